#!/usr/bin/env node
// The operator CLI. Runs the compiled packages: `npm run build` first.
import { main } from '@badgestream/cli';

await main(process.argv);
// A command that failed exits now, even if what it started half-way (a consumer, a connection) would keep the process alive.
if (process.exitCode) process.exit(process.exitCode);
