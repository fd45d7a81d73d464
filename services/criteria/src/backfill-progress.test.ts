import { describe, expect, it } from 'vitest';
import type { Criteria } from '@badgestream/criteria';
import { createLogger, type CriteriaActivation } from '@badgestream/platform';
import type { BackfillRun } from './backfill-runs.js';
import { RecordedBackfills, eventsHolding } from './backfill-progress.js';

const criteria = (badgeClass: string, version: number) => ({ badgeClass, version }) as Criteria;
const logger = createLogger('backfill-progress-test', 'silent');
/** Lets pending writes run: a write carries the figures of when it runs. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A store keeping every write, and failing the writes it is told to. */
function store(failFirst = 0) {
  const writes: Omit<BackfillRun, 'group'>[] = [];
  let failures = failFirst;
  return {
    writes,
    latest: (badgeClass: string) => writes.filter((w) => w.badgeClass === badgeClass).at(-1),
    record: async (run: Omit<BackfillRun, 'group'>) => {
      if (failures-- > 0) throw new Error('MongoNetworkError: connection reset');
      writes.push(structuredClone(run));
    },
  };
}

const activations: Record<string, CriteriaActivation[]> = {
  acme: [{ badgeClass: 'https://b/a', version: 2, seq: 7, at: new Date() }],
  globex: [{ badgeClass: 'https://b/g', version: 1, seq: 3, at: new Date() }],
};

describe('RecordedBackfills', () => {
  it("counts each version's chunks from the plan, then as they are passed, and records the end", async () => {
    const runs = store();
    const recorder = new RecordedBackfills({ runs, lastActivations: async (t) => activations[t] ?? [], partitions: 4, logger, writeEveryMs: 0 });
    const tracker = recorder.begin(2, [
      { tenant: 'acme', criteria: criteria('https://b/a', 2) },
      { tenant: 'globex', criteria: criteria('https://b/g', 1) },
    ]);
    const chunks = [
      { partition: 2, tenants: ['acme'], events: 100 },
      { partition: 2, tenants: ['acme', 'globex'], events: 50 },
      { partition: 2, tenants: ['globex'], events: 30 },
    ];
    tracker.planned!(chunks);
    await settle();
    tracker.passed!(chunks[0]!);
    for (let i = 0; i < 60; i++) tracker.evaluated('acme');
    tracker.passed!(chunks[1]!);
    tracker.evaluated('globex');
    await tracker.finish();

    expect(runs.latest('https://b/a')).toMatchObject({ tenant: 'acme', version: 2, partition: 2, activation: 7, partitions: 4, eventsDone: 150, eventsTotal: 150, evaluated: 60, finishedAt: expect.any(Date) as Date });
    // Globex's third chunk was never passed (the replay found it missing): done stays below total.
    expect(runs.latest('https://b/g')).toMatchObject({ tenant: 'globex', activation: 3, eventsDone: 50, eventsTotal: 80, evaluated: 1 });
    // The first write came with the plan, before any chunk was read.
    expect(runs.writes[0]).toMatchObject({ eventsDone: 0, eventsTotal: 150 });
    expect(runs.writes[0]!.finishedAt).toBeUndefined();
  });

  it('writes at most once per interval while it runs, and always at the end', async () => {
    const runs = store();
    const recorder = new RecordedBackfills({ runs, lastActivations: async (t) => activations[t] ?? [], partitions: 1, logger, writeEveryMs: 60_000 });
    const tracker = recorder.begin(0, [{ tenant: 'acme', criteria: criteria('https://b/a', 2) }]);
    tracker.planned!([{ partition: 0, tenants: ['acme'], events: 3 }]);
    await settle();
    for (let i = 0; i < 3; i++) {
      tracker.passed!({ partition: 0, tenants: ['acme'], events: 1 });
      await settle();
    }
    await tracker.finish();
    expect(runs.writes.map((w) => [w.eventsDone, w.finishedAt !== undefined])).toEqual([
      [0, false],
      [3, true],
    ]);
  });

  it('records no run for a version without an activation, and a failed write neither throws nor stops the next', async () => {
    const runs = store(1);
    const recorder = new RecordedBackfills({ runs, lastActivations: async (t) => activations[t] ?? [], partitions: 1, logger, writeEveryMs: 0 });
    const tracker = recorder.begin(0, [
      { tenant: 'acme', criteria: criteria('https://b/a', 2) },
      { tenant: 'acme', criteria: criteria('https://b/a', 3) },
    ]);
    tracker.planned!([{ partition: 0, tenants: ['acme'], events: 5 }]);
    await tracker.failed(new Error('the outbox is unreachable'));
    expect(runs.writes).toEqual([expect.objectContaining({ version: 2, error: 'the outbox is unreachable', eventsTotal: 5 })]);
  });
});

describe('eventsHolding', () => {
  it("adds up the events of the chunks that hold the tenant's", () => {
    expect(eventsHolding([{ partition: 0, tenants: ['a', 'b'], events: 7 }, { partition: 0, tenants: ['b'], events: 5 }, { partition: 0, tenants: ['a'], events: 1 }], 'a')).toBe(8);
    expect(eventsHolding([], 'a')).toBe(0);
  });
});
