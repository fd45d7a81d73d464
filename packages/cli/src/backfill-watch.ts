import type { Db } from 'mongodb';
import { MongoCriteriaDefinitions, MongoEventHistory } from '@badgestream/platform';
import { MongoBackfillRuns, backfillStatus, type BackfillStatus } from '@badgestream/criteria-service';
import { startProgress, type ProgressFigures } from './progress.js';

export interface BackfillTarget {
  tenant: string;
  badgeClass: string;
  version: number;
  /** The criteria consumer group whose backfill it is. */
  group: string;
}

/** States after which a backfill changes no more (until the version is activated again). */
const SETTLED = new Set<BackfillStatus['state']>(['done', 'stopped', 'not-activated']);

/** Reads the backfill status of a version as the group recorded it in MongoDB. */
export function backfillReader(db: Db, target: BackfillTarget): () => Promise<BackfillStatus> {
  const deps = { definitions: new MongoCriteriaDefinitions(db), runs: new MongoBackfillRuns(db, target.group), history: new MongoEventHistory(db) };
  return () => backfillStatus(deps, target.tenant, target.badgeClass, target.version);
}

/**
 * Follows a backfill with a progress bar on stderr until it is settled (done, stopped by a
 * retirement) or `timeoutMs` passed (0: no limit); returns the last status read.
 */
export async function followBackfill(read: () => Promise<BackfillStatus>, options: { group: string; timeoutMs: number; intervalMs?: number }): Promise<BackfillStatus> {
  const progress = startProgress({ label: 'backfill', unit: 'events' });
  const deadline = options.timeoutMs > 0 ? Date.now() + options.timeoutMs : Infinity;
  let status = await read().catch((error: unknown) => {
    progress.stop();
    throw error;
  });
  try {
    for (;;) {
      progress.update(backfillFigures(status, options.group));
      if (SETTLED.has(status.state) || Date.now() >= deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs ?? 1000, Math.max(0, deadline - Date.now()))));
      status = await read();
    }
  } finally {
    progress.stop(backfillFigures(status, options.group));
  }
}

/** The figures of a backfill for the progress bar: events gone through of those to go through, and the partitions. */
export function backfillFigures(status: BackfillStatus, group: string): ProgressFigures {
  const { partitions, events } = status;
  if (status.state === 'waiting') return { done: 0, total: events.total, detail: `waiting for a criteria consumer of group ${group} to start` };
  return { done: events.done, total: events.total, detail: `${partitions.done}/${partitions.total ?? '?'} partitions done, ${status.evaluated.toLocaleString('en-US')} of the tenant's events evaluated` };
}

/** A backfill status as lines of `name<TAB>value`, then one line per partition. */
export function describeBackfill(status: BackfillStatus): string[] {
  const { partitions, events } = status;
  const lines = [
    `state\t${status.state}`,
    `version\t${status.badgeClass} version ${status.version} (${status.status})`,
    `activated\t${status.activatedAt ?? '-'}`,
    `partitions\t${partitions.done}/${partitions.total ?? '?'} done, ${partitions.running} running`,
    `events\t${events.done}/${events.total} gone through (every event of the stored history chunks holding the tenant's)`,
    `evaluated\t${status.evaluated} of the tenant's events`,
    `started\t${status.startedAt ?? '-'}`,
    `finished\t${status.finishedAt ?? '-'}`,
  ];
  for (const p of status.byPartition) {
    lines.push(`partition ${p.partition}\t${p.state}\t${p.events.done}/${p.events.total} events\t${p.evaluated} evaluated\t${p.finishedAt ?? `updated ${p.updatedAt}`}${p.error ? `\tlast error: ${p.error}` : ''}`);
  }
  return lines;
}
