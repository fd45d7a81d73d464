import { createHash } from 'node:crypto';
import type { Collection, Db, Filter } from 'mongodb';
import type { LearnerProgress } from '@badgestream/criteria';

/**
 * One snapshot of one learner's progress towards one badge class under one criteria version,
 * written by a flush of the partition that holds the learner's events (`gen`: the flush's
 * generation in that partition). `_id` is `<group>#<key>#<gen>`.
 */
interface ProgressDoc {
  _id: string;
  /** The consumer group whose consumers wrote it: each group keeps its own progress. */
  group: string;
  key: string;
  partition: number;
  gen: number;
  tenant: string;
  learner: string;
  badgeClass: string;
  criteriaVersion: number;
  awardActive: boolean;
  progress: LearnerProgress;
  updatedAt: Date;
}

/** Where a partition's progress stands in MongoDB: every snapshot up to `gen` is written, and they reflect the partition's records before `offset` under `criteria`. */
export interface ProgressCheckpoint {
  gen: number;
  /** The next offset to apply after the snapshots. */
  offset: string;
  /** The criteria versions (criteriaVersionKey) the snapshots were computed for. */
  criteria: string[];
  at: Date;
}

interface CheckpointDoc extends ProgressCheckpoint {
  _id: string;
  group: string;
  topic: string;
  partition: number;
}

export function progressKey(tenant: string, learner: string, badgeClass: string, criteriaVersion: number): string {
  return `${tenant}|${learner}|${badgeClass}|${criteriaVersion}`;
}

export function criteriaVersionKey(tenant: string, badgeClass: string, criteriaVersion: number): string {
  return `${tenant}|${badgeClass}|${criteriaVersion}`;
}

/** Collections the progress documents are spread over, by learner (see MongoLearnerProgress). */
export const PROGRESS_BUCKETS = 32;

/** Thrown when another consumer wrote a partition's progress since this one loaded it. */
export class ProgressCheckpointConflict extends Error {
  constructor(readonly partition: number) {
    super(`the progress of partition ${partition} was written by another consumer since this one loaded it`);
  }
}

const DUPLICATE_KEY = 11000;

/**
 * Learner progress in MongoDB, as snapshots written in the background by the criteria consumer
 * (see CriteriaProcessor): the consumer keeps the progress of the partitions it owns in memory,
 * and every few seconds writes what changed as new documents of a new generation, then moves the
 * partition's checkpoint (collection `criteria_checkpoints`) to that generation and the offset it
 * reflects, then deletes the older snapshots of the same keys. Readers take the latest generation
 * of each key; a consumer that takes a partition over loads its snapshots up to the checkpoint and
 * applies the event history (MongoEventHistory) after the checkpoint's offset.
 *
 * Why snapshots rather than one document updated per event: FerretDB, which the local stack runs,
 * inserts a batch about fifty times faster than it updates documents one by one, and answers even
 * an `_id` lookup by scanning the collection. For the same reason the documents are spread by
 * learner over PROGRESS_BUCKETS collections (`learner_progress_00` … `_31`), so a learner's
 * progress is read from one small collection; MongoDB proper is indifferent to the split.
 */
export class MongoLearnerProgress {
  private readonly buckets: Collection<ProgressDoc>[];
  private readonly checkpoints: Collection<CheckpointDoc>;

  /** `group`: the criteria consumer group whose progress this is (CRITERIA_GROUP_ID). */
  constructor(
    db: Db,
    readonly group: string,
  ) {
    this.buckets = Array.from({ length: PROGRESS_BUCKETS }, (_, i) => db.collection<ProgressDoc>(`learner_progress_${String(i).padStart(2, '0')}`));
    this.checkpoints = db.collection<CheckpointDoc>('criteria_checkpoints');
  }

  async init(): Promise<void> {
    for (const docs of this.buckets) {
      await docs.createIndex({ group: 1, tenant: 1, learner: 1 });
      await docs.createIndex({ group: 1, partition: 1, gen: 1 });
      await docs.createIndex({ group: 1, tenant: 1, badgeClass: 1 });
    }
  }

  private bucketOfLearner(tenant: string, learner: string): Collection<ProgressDoc> {
    const digest = createHash('sha1').update(`${tenant}|${learner}`).digest();
    return this.buckets[digest.readUInt32BE(0) % PROGRESS_BUCKETS]!;
  }

  /** The latest snapshot of each key among the documents matching `filter`. */
  private async latest(filter: Filter<ProgressDoc>, buckets = this.buckets): Promise<Map<string, ProgressDoc>> {
    const docs = (await Promise.all(buckets.map((b) => b.find({ ...filter, group: this.group }).toArray()))).flat();
    const byKey = new Map<string, ProgressDoc>();
    for (const doc of docs) {
      const known = byKey.get(doc.key);
      if (!known || known.gen < doc.gen) byKey.set(doc.key, doc);
    }
    return byKey;
  }

  async checkpoint(topic: string, partition: number): Promise<ProgressCheckpoint | undefined> {
    const doc = await this.checkpoints.findOne({ _id: `${this.group}|${topic}|${partition}` });
    return doc ? { gen: doc.gen, offset: doc.offset, criteria: doc.criteria, at: doc.at } : undefined;
  }

  /**
   * The progress of a partition as of its checkpoint generation, by key, with the generation of
   * each key's snapshot, and the highest
   * generation found: snapshots above the checkpoint's are left by a flush that did not finish
   * (ignored here; the next flush takes a generation above them all).
   */
  async loadPartition(partition: number, gen: number): Promise<{ progress: Map<string, LearnerProgress>; gens: Map<string, number>; highestGen: number }> {
    const progress = new Map<string, LearnerProgress>();
    const gens = new Map<string, number>();
    let highestGen = gen;
    const byKey = new Map<string, ProgressDoc>();
    const docs = (await Promise.all(this.buckets.map((b) => b.find({ group: this.group, partition }).toArray()))).flat();
    for (const doc of docs) {
      highestGen = Math.max(highestGen, doc.gen);
      if (doc.gen > gen) continue;
      const known = byKey.get(doc.key);
      if (!known || known.gen < doc.gen) byKey.set(doc.key, doc);
    }
    for (const [key, doc] of byKey) {
      progress.set(key, doc.progress);
      gens.set(key, doc.gen);
    }
    return { progress, gens, highestGen };
  }

  /**
   * One flush of a partition: writes the changed progress as generation `checkpoint.gen` (above
   * every generation of the partition, finished or not), then
   * moves the checkpoint there, but only if it still stands at `previousGen` (another consumer
   * that took the partition over writes its own generations: ProgressCheckpointConflict). The
   * snapshots these supersede are left for compact.
   */
  async flush(topic: string, partition: number, previousGen: number, checkpoint: Omit<ProgressCheckpoint, 'at'>, changed: ReadonlyMap<string, LearnerProgress>): Promise<void> {
    const { gen } = checkpoint;
    const byBucket = new Map<Collection<ProgressDoc>, ProgressDoc[]>();
    const updatedAt = new Date();
    for (const [key, progress] of changed) {
      const bucket = this.bucketOfLearner(progress.tenant, progress.learner);
      let docs = byBucket.get(bucket);
      if (!docs) byBucket.set(bucket, (docs = []));
      docs.push({
        _id: `${this.group}#${key}#${gen}`,
        group: this.group,
        key,
        partition,
        gen,
        tenant: progress.tenant,
        learner: progress.learner,
        badgeClass: progress.badgeClass,
        criteriaVersion: progress.criteriaVersion,
        awardActive: progress.award !== null,
        progress,
        updatedAt,
      });
    }
    try {
      await Promise.all([...byBucket].map(([bucket, docs]) => bucket.insertMany(docs, { ordered: false })));
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY || hasDuplicateKeyErrors(error)) throw new ProgressCheckpointConflict(partition);
      throw error;
    }
    const _id = `${this.group}|${topic}|${partition}`;
    const doc: CheckpointDoc = { _id, group: this.group, topic, partition, ...checkpoint, at: updatedAt };
    if (previousGen === 0) {
      try {
        await this.checkpoints.insertOne(doc);
      } catch (error) {
        if ((error as { code?: number }).code === DUPLICATE_KEY) throw new ProgressCheckpointConflict(partition);
        throw error;
      }
    } else {
      const moved = await this.checkpoints.replaceOne({ _id, gen: previousGen }, doc);
      if (moved.matchedCount !== 1) throw new ProgressCheckpointConflict(partition);
    }
  }

  /**
   * Deletes snapshots that later ones supersede (by key and generation), one pass per bucket.
   * Readers take the latest generation of a key, so deleting late, or never, changes no answer;
   * the consumer batches these deletes because each costs a pass over a bucket on FerretDB.
   */
  async compact(superseded: readonly { key: string; gen: number; tenant: string; learner: string }[]): Promise<void> {
    const byBucket = new Map<Collection<ProgressDoc>, string[]>();
    for (const { key, gen, tenant, learner } of superseded) {
      const bucket = this.bucketOfLearner(tenant, learner);
      let ids = byBucket.get(bucket);
      if (!ids) byBucket.set(bucket, (ids = []));
      ids.push(`${this.group}#${key}#${gen}`);
    }
    await Promise.all([...byBucket].map(([bucket, ids]) => bucket.deleteMany({ _id: { $in: ids } })));
  }

  async forLearner(tenant: string, learner: string): Promise<LearnerProgress[]> {
    const latest = await this.latest({ tenant, learner }, [this.bucketOfLearner(tenant, learner)]);
    return [...latest.values()].map((d) => d.progress).sort((a, b) => a.badgeClass.localeCompare(b.badgeClass) || a.criteriaVersion - b.criteriaVersion);
  }

  async forBadgeClass(tenant: string, badgeClass: string, criteriaVersion?: number): Promise<LearnerProgress[]> {
    const filter = criteriaVersion === undefined ? { tenant, badgeClass } : { tenant, badgeClass, criteriaVersion };
    return [...(await this.latest(filter)).values()].map((d) => d.progress);
  }

  /** Every progress of a tenant whose learner holds an award now, across badge classes, by key. */
  async allHolders(tenant: string): Promise<{ key: string; progress: LearnerProgress }[]> {
    // Not filtered on awardActive: a learner's latest snapshot may be the one without the award.
    return [...(await this.latest({ tenant })).values()].filter((d) => d.awardActive).map((d) => ({ key: d.key, progress: d.progress }));
  }
}

function hasDuplicateKeyErrors(error: unknown): boolean {
  const writeErrors = (error as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  return list.some((e) => e.code === DUPLICATE_KEY);
}
