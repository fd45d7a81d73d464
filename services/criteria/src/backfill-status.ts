import { NotFoundError, type CriteriaActivation, type CriteriaStatus, type MongoCriteriaDefinitions, type MongoEventHistory } from '@badgestream/platform';
import type { BackfillRun, MongoBackfillRuns } from './backfill-runs.js';

/**
 * - `not-activated`: the version was never activated, so never evaluated over the history;
 * - `waiting`: activated, and no criteria consumer of the group has started on it yet;
 * - `running`: some partitions are done or under way, not all;
 * - `done`: every partition evaluated it and its effects are in the outbox;
 * - `stopped`: retired before every partition was done: the rest never will be.
 */
export type BackfillState = 'not-activated' | 'waiting' | 'running' | 'done' | 'stopped';

export interface PartitionBackfill {
  partition: number;
  state: 'running' | 'done';
  events: { done: number; total: number };
  evaluated: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Why the last attempt stopped short (it is run again with the partition's next slice). */
  error?: string;
}

/** How far the evaluation of an activated version over the stored history got (GET /admin/criteria/:version/backfill). */
export interface BackfillStatus {
  badgeClass: string;
  version: number;
  /** The version's status now. */
  status: CriteriaStatus;
  /** The activation these figures are about: the version's last. */
  activatedAt: string | null;
  state: BackfillState;
  /** Partitions of the topic (null until known), done, and under way. */
  partitions: { total: number | null; done: number; running: number };
  /**
   * Events of the history chunks that hold the tenant's events (every tenant's events in them,
   * which the backfill reads): gone through, and in all. A partition not started yet counts
   * what is stored there now.
   */
  events: { done: number; total: number };
  /** The tenant's events evaluated. */
  evaluated: number;
  startedAt: string | null;
  finishedAt: string | null;
  byPartition: PartitionBackfill[];
}

export interface BackfillFacts {
  badgeClass: string;
  version: number;
  status: CriteriaStatus;
  activation: Pick<CriteriaActivation, 'seq' | 'at'> | undefined;
  /** The runs of the version recorded by the group, of any activation. */
  runs: readonly BackfillRun[];
  /** Per partition, the events of the stored chunks holding the tenant's (MongoEventHistory.storedEventsOf). */
  stored: ReadonlyMap<number, number>;
  /** Partitions of the topic, when the caller knows them; else the runs say. */
  partitions?: number | undefined;
}

/** The status of a version's backfill from what the group recorded and what the history holds. */
export function summarizeBackfill(facts: BackfillFacts): BackfillStatus {
  const runs = facts.activation ? facts.runs.filter((r) => r.activation === facts.activation!.seq) : [];
  const total = facts.partitions ?? (runs.length ? Math.max(...runs.map((r) => r.partitions)) : null);
  const done = runs.filter((r) => r.finishedAt !== undefined);
  const started = new Set(runs.map((r) => r.partition));
  const waitingPartitions = total === null ? [...facts.stored.keys()] : Array.from({ length: total }, (_, p) => p);
  let eventsTotal = 0;
  for (const p of waitingPartitions) if (!started.has(p)) eventsTotal += facts.stored.get(p) ?? 0;
  for (const r of runs) eventsTotal += r.eventsTotal;
  const state: BackfillState = !facts.activation
    ? 'not-activated'
    : total !== null && done.length >= total
      ? 'done'
      : facts.status !== 'active'
        ? 'stopped'
        : runs.length === 0
          ? 'waiting'
          : 'running';
  return {
    badgeClass: facts.badgeClass,
    version: facts.version,
    status: facts.status,
    activatedAt: facts.activation?.at.toISOString() ?? null,
    state,
    partitions: { total, done: done.length, running: runs.length - done.length },
    events: { done: sum(runs.map((r) => r.eventsDone)), total: eventsTotal },
    evaluated: sum(runs.map((r) => r.evaluated)),
    startedAt: runs.length ? new Date(Math.min(...runs.map((r) => r.startedAt.getTime()))).toISOString() : null,
    finishedAt: state === 'done' ? new Date(Math.max(...done.map((r) => r.finishedAt!.getTime()))).toISOString() : null,
    byPartition: runs.map((r) => ({
      partition: r.partition,
      state: r.finishedAt ? 'done' : 'running',
      events: { done: r.eventsDone, total: r.eventsTotal },
      evaluated: r.evaluated,
      startedAt: r.startedAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
      ...(r.finishedAt ? { finishedAt: r.finishedAt.toISOString() } : {}),
      ...(r.error && !r.finishedAt ? { error: r.error } : {}),
    })),
  };
}

export interface BackfillStatusDeps {
  definitions: MongoCriteriaDefinitions;
  runs: MongoBackfillRuns;
  history: MongoEventHistory;
  /** Partitions of the topic, when known (the criteria service knows; the CLI learns them from the runs). */
  partitions?: number;
}

/** The backfill status of a stored version of a tenant's criteria; NotFoundError when it is not stored. */
export async function backfillStatus(deps: BackfillStatusDeps, tenant: string, badgeClass: string, version: number): Promise<BackfillStatus> {
  const [definition, activations, runs] = await Promise.all([deps.definitions.get(tenant, badgeClass, version), deps.definitions.lastActivations(tenant), deps.runs.runsOf(tenant, badgeClass, version)]);
  if (!definition) throw new NotFoundError(`tenant ${tenant} has no version ${version} of the criteria of ${badgeClass}`);
  const activation = activations.find((a) => a.badgeClass === badgeClass && a.version === version);
  const facts: BackfillFacts = { badgeClass, version, status: definition.status, activation, runs, stored: new Map(), partitions: deps.partitions };
  // What is stored matters only for partitions not started: the index is read only while there are some.
  const started = activation ? new Set(runs.filter((r) => r.activation === activation.seq).map((r) => r.partition)).size : 0;
  const partitions = deps.partitions ?? Math.max(0, ...runs.map((r) => r.partitions));
  if (activation && (partitions === 0 || started < partitions)) facts.stored = await deps.history.storedEventsOf(tenant);
  return summarizeBackfill(facts);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
