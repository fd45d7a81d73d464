import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const STACK_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stack.sh');

function clusterIds(count: number): string[] {
  const script = `source "$1"; for ((i = 0; i < ${count}; i++)); do new_kafka_cluster_id; done`;
  return execFileSync('bash', ['-c', script, 'stack-test', STACK_SCRIPT], { encoding: 'utf8' }).trim().split('\n');
}

describe('stack.sh new_kafka_cluster_id', () => {
  it('draws ids the storage tool can take as an argument: 22 URL-safe base64 characters, never a leading "-"', () => {
    // A leading '-' comes once in 64 draws: without the redraw, 500 draws hold one with
    // probability 1 - (63/64)^500 > 0.999.
    const ids = clusterIds(500);
    expect(ids).toHaveLength(500);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  }, 60_000);
});
