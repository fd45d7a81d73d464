import type { Collection, Db } from 'mongodb';

/**
 * One partition's backfill of one activation of a criteria version, as the criteria consumer
 * that owns the partition records it while it evaluates the version over the stored history.
 */
export interface BackfillRun {
  group: string;
  tenant: string;
  badgeClass: string;
  version: number;
  partition: number;
  /** The activation the version is evaluated for: its number in the badge class's activation log. */
  activation: number;
  /** Partitions of the topic: every one is backfilled, each by the instance that owns it. */
  partitions: number;
  /**
   * Events in the stored history chunks that hold some of the tenant's events (every tenant's
   * events in them: the backfill reads them all): gone through so far, and in all. A slice stored
   * twice (by consumers that cut it differently) counts twice, in both.
   */
  eventsDone: number;
  eventsTotal: number;
  /** The tenant's events evaluated so far (each offset once). */
  evaluated: number;
  startedAt: Date;
  updatedAt: Date;
  /** Set once the outcome's effects are in the outbox. */
  finishedAt?: Date;
  /** Why the run stopped short; the partition's next slice runs the backfill again. */
  error?: string;
}

interface BackfillRunDoc extends BackfillRun {
  _id: string;
}

/**
 * Backfill progress per consumer group, activation and partition (collection `criteria_backfills`):
 * one small document per partition and version, replaced as the run goes (about once a second) and
 * when a later run of the same version takes its place (another activation, or the same one redone
 * after a crash or a rebalance).
 */
export class MongoBackfillRuns {
  private readonly runs: Collection<BackfillRunDoc>;

  constructor(
    db: Db,
    readonly group: string,
  ) {
    this.runs = db.collection<BackfillRunDoc>('criteria_backfills');
  }

  async init(): Promise<void> {
    await this.runs.createIndex({ group: 1, tenant: 1, badgeClass: 1, version: 1 });
  }

  async record(run: Omit<BackfillRun, 'group'>): Promise<void> {
    const doc: BackfillRunDoc = { _id: JSON.stringify([this.group, run.tenant, run.badgeClass, run.version, run.partition]), group: this.group, ...run };
    await this.runs.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  /** The latest run of the version in each partition that ran one, of this group. */
  async runsOf(tenant: string, badgeClass: string, version: number): Promise<BackfillRun[]> {
    const docs = await this.runs.find({ group: this.group, tenant, badgeClass, version }).toArray();
    return docs.map(({ _id, ...run }) => run).sort((a, b) => a.partition - b.partition);
  }
}
