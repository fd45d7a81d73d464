import { describe, expect, it } from 'vitest';
import type { BackfillRun } from './backfill-runs.js';
import { summarizeBackfill, type BackfillFacts } from './backfill-status.js';

const at = (s: number) => new Date(Date.UTC(2026, 10, 20, 10, 0, s));

function run(partition: number, figures: Partial<BackfillRun> = {}): BackfillRun {
  return {
    group: 'criteria',
    tenant: 'acme',
    badgeClass: 'https://issuer.example/badges/b',
    version: 2,
    partition,
    activation: 5,
    partitions: 3,
    eventsDone: 0,
    eventsTotal: 0,
    evaluated: 0,
    startedAt: at(partition),
    updatedAt: at(10),
    ...figures,
  };
}

const facts = (overrides: Partial<BackfillFacts>): BackfillFacts => ({
  badgeClass: 'https://issuer.example/badges/b',
  version: 2,
  status: 'active',
  activation: { seq: 5, at: at(0) },
  runs: [],
  stored: new Map(),
  ...overrides,
});

describe('summarizeBackfill', () => {
  it('adds up the partitions: done, under way, and what is stored where none started yet', () => {
    const status = summarizeBackfill(
      facts({
        runs: [run(0, { eventsDone: 400, eventsTotal: 400, evaluated: 40, finishedAt: at(20) }), run(1, { eventsDone: 100, eventsTotal: 300, evaluated: 7 })],
        stored: new Map([
          [0, 450],
          [1, 300],
          [2, 250],
        ]),
      }),
    );
    expect(status).toMatchObject({
      state: 'running',
      activatedAt: at(0).toISOString(),
      partitions: { total: 3, done: 1, running: 1 },
      // Partition 0's total is what its run counted at its start (450 stored now); 2 has not started.
      events: { done: 500, total: 400 + 300 + 250 },
      evaluated: 47,
      startedAt: at(0).toISOString(),
      finishedAt: null,
    });
    expect(status.byPartition.map((p) => [p.partition, p.state, p.events])).toEqual([
      [0, 'done', { done: 400, total: 400 }],
      [1, 'running', { done: 100, total: 300 }],
    ]);
  });

  it('is done when every partition is, and then done equals total', () => {
    const runs = [0, 1, 2].map((p) => run(p, { eventsDone: 10 * p, eventsTotal: 10 * p, evaluated: p, finishedAt: at(30 + p) }));
    const status = summarizeBackfill(facts({ runs, stored: new Map([[1, 99]]) }));
    expect(status).toMatchObject({ state: 'done', partitions: { total: 3, done: 3, running: 0 }, events: { done: 30, total: 30 }, evaluated: 3, finishedAt: at(32).toISOString() });
  });

  it('counts only the runs of the last activation', () => {
    const earlier = [0, 1, 2].map((p) => run(p, { activation: 3, eventsDone: 5, eventsTotal: 5, finishedAt: at(1) }));
    const status = summarizeBackfill(facts({ runs: [...earlier.slice(1), run(0, { eventsDone: 1, eventsTotal: 6 })], stored: new Map([[1, 6]]) }));
    expect(status).toMatchObject({ state: 'running', partitions: { total: 3, done: 0, running: 1 }, events: { done: 1, total: 12 } });
  });

  it('is waiting before any consumer started, with the partitions unknown unless the caller knows them', () => {
    const stored = new Map([[2, 40]]);
    expect(summarizeBackfill(facts({ stored }))).toMatchObject({ state: 'waiting', partitions: { total: null, done: 0, running: 0 }, events: { done: 0, total: 40 }, startedAt: null });
    expect(summarizeBackfill(facts({ stored, partitions: 8 }))).toMatchObject({ state: 'waiting', partitions: { total: 8, done: 0, running: 0 } });
  });

  it('is stopped when the version was retired before every partition was done, and not-activated when it never was', () => {
    expect(summarizeBackfill(facts({ status: 'retired', runs: [run(0, { finishedAt: at(3) })] })).state).toBe('stopped');
    expect(summarizeBackfill(facts({ status: 'retired', runs: [0, 1, 2].map((p) => run(p, { finishedAt: at(3) })) })).state).toBe('done');
    expect(summarizeBackfill(facts({ status: 'draft', activation: undefined, runs: [run(0)], stored: new Map([[0, 9]]) }))).toMatchObject({
      state: 'not-activated',
      activatedAt: null,
      partitions: { done: 0, running: 0 },
      events: { done: 0 },
      byPartition: [],
    });
  });

  it('shows the error of a run that stopped short, until it finishes', () => {
    const status = summarizeBackfill(facts({ runs: [run(0, { error: 'MongoNetworkError: connection reset' }), run(1, { error: 'old', finishedAt: at(9) })] }));
    expect(status.byPartition).toEqual([
      expect.objectContaining({ partition: 0, state: 'running', error: 'MongoNetworkError: connection reset' }),
      expect.not.objectContaining({ error: expect.anything() as unknown }),
    ]);
  });
});
