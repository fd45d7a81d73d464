import type { Db } from 'mongodb';
import type { Criteria } from '@badgestream/criteria';
import type { ChunkSummary, CriteriaActivation, Logger, MongoCriteriaDefinitions, MongoEventHistory, ReplayObserver } from '@badgestream/platform';
import { MongoBackfillRuns, type BackfillRun } from './backfill-runs.js';
import { backfillStatus, type BackfillStatus } from './backfill-status.js';

/** Told how a backfill of one partition goes: which chunks of the history it reads, what it evaluated, how it ended. */
export interface BackfillTracker extends ReplayObserver {
  /** One of the tenant's events evaluated. */
  evaluated(tenant: string): void;
  /** The outcome's effects are in the outbox. */
  finish(): Promise<void>;
  failed(error: unknown): Promise<void>;
}

/** Where the criteria processor reports its backfills (see CriteriaProcessor). */
export interface BackfillRecorder {
  /** A backfill of these versions over one partition's stored history starts. */
  begin(partition: number, versions: readonly { tenant: string; criteria: Criteria }[]): BackfillTracker;
}

export interface RecordedBackfillsDeps {
  runs: Pick<MongoBackfillRuns, 'record'>;
  /** The last activation of each version of a tenant's criteria (MongoCriteriaDefinitions.lastActivations). */
  lastActivations: (tenant: string) => Promise<readonly CriteriaActivation[]>;
  /** Partitions of the topic the processor consumes. */
  partitions: number;
  logger: Logger;
  /** A run's figures are written at most this often (and when it ends). */
  writeEveryMs?: number;
  now?: () => Date;
}

/**
 * Records each backfill as one BackfillRun per version and partition, from the figures the
 * replay of the history gives: the chunks it will read (the total, counted before the first event)
 * and each chunk read. Recording never holds a backfill up nor fails it: a write that fails is
 * logged, and the next one carries the figures.
 */
export class RecordedBackfills implements BackfillRecorder {
  constructor(private readonly deps: RecordedBackfillsDeps) {}

  begin(partition: number, versions: readonly { tenant: string; criteria: Criteria }[]): BackfillTracker {
    const now = this.deps.now ?? (() => new Date());
    const startedAt = now();
    const runs: Omit<BackfillRun, 'group'>[] = versions.map(({ tenant, criteria }) => ({
      tenant,
      badgeClass: criteria.badgeClass,
      version: criteria.version,
      partition,
      activation: 0,
      partitions: this.deps.partitions,
      eventsDone: 0,
      eventsTotal: 0,
      evaluated: 0,
      startedAt,
      updatedAt: startedAt,
    }));
    // Looked up while the backfill starts: the runs are written once their activation is known.
    const ready = this.activationsOf(runs);
    const writeEveryMs = this.deps.writeEveryMs ?? 1000;
    let lastWrite = 0;
    let writing: Promise<void> | undefined;
    const write = async () => {
      const known = await ready;
      const at = now();
      await Promise.all(
        known.map(async (run) => {
          run.updatedAt = at;
          try {
            await this.deps.runs.record({ ...run });
          } catch (error) {
            this.deps.logger.warn({ err: error, tenant: run.tenant, badgeClass: run.badgeClass, version: run.version, partition }, 'backfill progress not recorded; the next write carries it');
          }
        }),
      );
    };
    const writeSoon = () => {
      if (writing || Date.now() - lastWrite < writeEveryMs) return;
      lastWrite = Date.now();
      writing = write().finally(() => (writing = undefined));
    };
    const writeNow = async () => {
      await writing;
      await write();
    };
    const runsOf = new Map<string, Omit<BackfillRun, 'group'>[]>();
    for (const run of runs) runsOf.set(run.tenant, [...(runsOf.get(run.tenant) ?? []), run]);
    return {
      planned(chunks: readonly ChunkSummary[]) {
        for (const run of runs) run.eventsTotal = eventsHolding(chunks, run.tenant);
        writeSoon();
      },
      passed(chunk: ChunkSummary) {
        for (const tenant of chunk.tenants) for (const run of runsOf.get(tenant) ?? []) run.eventsDone += chunk.events;
        writeSoon();
      },
      evaluated(tenant: string) {
        for (const run of runsOf.get(tenant) ?? []) run.evaluated++;
      },
      async finish() {
        for (const run of runs) run.finishedAt = now();
        await writeNow();
      },
      async failed(error: unknown) {
        for (const run of runs) run.error = (error as Error)?.message ?? String(error);
        await writeNow();
      },
    };
  }

  /** The runs with their activation; a version never activated (a race with its retirement) is not recorded. */
  private async activationsOf(runs: Omit<BackfillRun, 'group'>[]): Promise<Omit<BackfillRun, 'group'>[]> {
    try {
      const tenants = [...new Set(runs.map((r) => r.tenant))];
      const activations = new Map((await Promise.all(tenants.map((t) => this.deps.lastActivations(t)))).flatMap((list, i) => list.map((a) => [`${tenants[i]}|${a.version}|${a.badgeClass}`, a.seq] as const)));
      return runs.filter((run) => {
        const seq = activations.get(`${run.tenant}|${run.version}|${run.badgeClass}`);
        if (seq !== undefined) run.activation = seq;
        return seq !== undefined;
      });
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'backfill progress not recorded: the activations could not be read');
      return [];
    }
  }
}

/** Events (of every tenant) in the chunks holding some of the tenant's. */
export function eventsHolding(chunks: readonly ChunkSummary[], tenant: string): number {
  let events = 0;
  for (const chunk of chunks) if (chunk.tenants.includes(tenant)) events += chunk.events;
  return events;
}

/** The backfill progress of a criteria service: what its processor reports to, and what its admin API answers. */
export async function openBackfillProgress(deps: { db: Db; group: string; partitions: number; definitions: MongoCriteriaDefinitions; history: MongoEventHistory; logger: Logger }): Promise<{
  recorder: BackfillRecorder;
  status: (tenant: string, badgeClass: string, version: number) => Promise<BackfillStatus>;
}> {
  const runs = new MongoBackfillRuns(deps.db, deps.group);
  await runs.init();
  return {
    recorder: new RecordedBackfills({ runs, lastActivations: (tenant) => deps.definitions.lastActivations(tenant), partitions: deps.partitions, logger: deps.logger }),
    status: (tenant, badgeClass, version) => backfillStatus({ definitions: deps.definitions, runs, history: deps.history, partitions: deps.partitions }, tenant, badgeClass, version),
  };
}
