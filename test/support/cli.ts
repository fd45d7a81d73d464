/** Runs the `badgestream` command as a user would, in a process of its own. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './ingest.js';

const run = promisify(execFile);
const BIN = path.join(REPO_ROOT, 'bin/badgestream.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `badgestream …args` with the given environment: the built bin by default, or the TypeScript
 * sources (`fromSource`) for commands the build may not have yet. A failure is a result, not a throw.
 */
export async function badgestreamCli(args: readonly string[], options: { env: NodeJS.ProcessEnv; timeoutMs: number; fromSource?: boolean }): Promise<CliResult> {
  const argv = options.fromSource ? ['--conditions=source', '--import', 'tsx', BIN, ...args] : [BIN, ...args];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, { env: options.env, cwd: REPO_ROOT, timeout: options.timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
