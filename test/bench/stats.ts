/** Small helpers shared by the benchmark programs. */

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const index = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[index]!;
}

export interface RunFigures {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `task` for items 0..count-1 with at most `concurrency` in flight; returns per-task latencies. */
export async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<{ seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await task(i);
      latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latenciesMs.sort((a, b) => a - b);
  return { seconds, latenciesMs };
}

export function figures(events: number, run: { seconds: number; latenciesMs: number[] }): RunFigures {
  return {
    events,
    seconds: run.seconds,
    eventsPerSecond: events / run.seconds,
    p50Ms: percentile(run.latenciesMs, 50),
    p99Ms: percentile(run.latenciesMs, 99),
  };
}

export function formatRow(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (typeof c === 'number' ? c.toFixed(c >= 100 ? 0 : 1) : c).padStart(widths[i] ?? 10)).join('  ');
}
