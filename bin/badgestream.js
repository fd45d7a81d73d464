#!/usr/bin/env node
// The operator CLI. Runs the compiled packages: `npm run build` first.
import { main } from '@badgestream/cli';

await main(process.argv);
