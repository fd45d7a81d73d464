import { createHash } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Collection, Db, Filter } from 'mongodb';
import type { LearnerProgress } from '@badgestream/criteria';

/**
 * One snapshot of one learner's progress towards one badge class under one criteria version,
 * written by a flush of the partition that holds the learner's events (`gen`: the flush's
 * generation in that partition). `_id` is `<key>#<gen>`, in the group's collection of that partition.
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
  /**
   * The progress as JSON text: one field that FerretDB stores as it is, where the progress as
   * fields, read only ever whole, cost it twice the time to insert (and more to read). Snapshots
   * written before hold the progress itself.
   */
  progress: string | LearnerProgress;
  updatedAt: Date;
}

/** The progress a snapshot holds. */
function progressIn(doc: ProgressDoc): LearnerProgress {
  return typeof doc.progress === 'string' ? (JSON.parse(doc.progress) as LearnerProgress) : doc.progress;
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
 * reflects. Snapshots that later ones supersede are deleted in batches (compact). Readers take the
 * latest generation of each key; a consumer that takes a partition over loads its snapshots up to
 * the checkpoint and applies the event history (MongoEventHistory) after the checkpoint's offset.
 *
 * Why snapshots rather than one document updated per event: FerretDB, which the local stack runs,
 * inserts a batch about fifty times faster than it updates documents one by one. Why one
 * collection per consumer group and partition (`learner_progress_<group hash>_p<partition>`):
 * FerretDB answers every query but an `_id` lookup by reading the whole collection, so what a
 * consumer taking a partition over reads is exactly that partition's progress, and a learner's
 * progress is read from the collection of the partition their events go to (the same key and
 * partitioner as the producers: DefaultPartitioner over `<tenant>|<learner>`). MongoDB proper is
 * indifferent to the split.
 */
export class MongoLearnerProgress {
  private readonly db: Db;
  private readonly prefix: string;
  private readonly collections = new Map<number, Collection<ProgressDoc>>();
  private readonly checkpoints: Collection<CheckpointDoc>;
  private readonly partitionOf?: (key: string) => number;

  /**
   * `group`: the criteria consumer group whose progress this is (CRITERIA_GROUP_ID); `partitions`:
   * the partition count of caliper.events, to read a learner's progress from one collection
   * (without it, a learner's progress is looked for in every partition's collection).
   */
  constructor(
    db: Db,
    readonly group: string,
    partitions?: number,
  ) {
    this.db = db;
    this.prefix = `learner_progress_${createHash('sha1').update(group).digest('hex').slice(0, 12)}_p`;
    this.checkpoints = db.collection<CheckpointDoc>('criteria_checkpoints');
    if (partitions !== undefined) {
      const partitioner = Partitioners.DefaultPartitioner();
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
      this.partitionOf = (key) => partitioner({ topic: 'caliper.events', partitionMetadata, message: { key, value: null } });
    }
  }

  async init(): Promise<void> {
    await this.checkpoints.createIndex({ group: 1 });
  }

  private collectionOf(partition: number): Collection<ProgressDoc> {
    let docs = this.collections.get(partition);
    if (!docs) this.collections.set(partition, (docs = this.db.collection<ProgressDoc>(`${this.prefix}${partition}`)));
    return docs;
  }

  /** The collections of the group's partitions that exist. */
  private async allCollections(): Promise<Collection<ProgressDoc>[]> {
    const names = (await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((name) => name.startsWith(this.prefix));
    return names.map((name) => this.collectionOf(Number(name.slice(this.prefix.length))));
  }

  /** The latest snapshot of each key among the documents matching `filter`. */
  private async latest(filter: Filter<ProgressDoc>, collections?: Collection<ProgressDoc>[]): Promise<Map<string, ProgressDoc>> {
    const docs = (await Promise.all((collections ?? (await this.allCollections())).map((c) => c.find(filter).toArray()))).flat();
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
   * each key's snapshot, and the highest generation found: snapshots above the checkpoint's are
   * left by a flush that did not finish (ignored here; the next flush takes a generation above them all).
   */
  async loadPartition(partition: number, gen: number): Promise<{ progress: Map<string, LearnerProgress>; gens: Map<string, number>; highestGen: number }> {
    const progress = new Map<string, LearnerProgress>();
    const gens = new Map<string, number>();
    let highestGen = gen;
    const byKey = new Map<string, ProgressDoc>();
    for (const doc of await this.collectionOf(partition).find({}).toArray()) {
      highestGen = Math.max(highestGen, doc.gen);
      if (doc.gen > gen) continue;
      const known = byKey.get(doc.key);
      if (!known || known.gen < doc.gen) byKey.set(doc.key, doc);
    }
    for (const [key, doc] of byKey) {
      progress.set(key, progressIn(doc));
      gens.set(key, doc.gen);
    }
    return { progress, gens, highestGen };
  }

  /**
   * One flush of a partition: writes the changed progress as generation `checkpoint.gen` (above
   * every generation of the partition, finished or not), then moves the checkpoint there, but only
   * if it still stands at `previousGen` (another consumer that took the partition over writes its
   * own generations: ProgressCheckpointConflict). The snapshots these supersede are left for compact.
   */
  async flush(topic: string, partition: number, previousGen: number, checkpoint: Omit<ProgressCheckpoint, 'at'>, changed: ReadonlyMap<string, LearnerProgress>): Promise<void> {
    const { gen } = checkpoint;
    const updatedAt = new Date();
    const docs: ProgressDoc[] = [...changed].map(([key, progress]) => ({
      _id: `${key}#${gen}`,
      group: this.group,
      key,
      partition,
      gen,
      tenant: progress.tenant,
      learner: progress.learner,
      badgeClass: progress.badgeClass,
      criteriaVersion: progress.criteriaVersion,
      awardActive: progress.award !== null,
      progress: JSON.stringify(progress),
      updatedAt,
    }));
    try {
      if (docs.length > 0) await this.collectionOf(partition).insertMany(docs, { ordered: false });
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
   * Deletes snapshots of a partition that later ones supersede (by key and generation), in one
   * pass. Readers take the latest generation of a key, so deleting late, or never, changes no
   * answer; the consumer batches these deletes because each costs a pass over the collection on FerretDB.
   */
  async compact(partition: number, superseded: readonly { key: string; gen: number }[]): Promise<void> {
    if (superseded.length === 0) return;
    await this.collectionOf(partition).deleteMany({ _id: { $in: superseded.map(({ key, gen }) => `${key}#${gen}`) } });
  }

  async forLearner(tenant: string, learner: string): Promise<LearnerProgress[]> {
    const collections = this.partitionOf ? [this.collectionOf(this.partitionOf(`${tenant}|${learner}`))] : undefined;
    const latest = await this.latest({ tenant, learner }, collections);
    return [...latest.values()].map(progressIn).sort((a, b) => a.badgeClass.localeCompare(b.badgeClass) || a.criteriaVersion - b.criteriaVersion);
  }

  async forBadgeClass(tenant: string, badgeClass: string, criteriaVersion?: number): Promise<LearnerProgress[]> {
    const filter = criteriaVersion === undefined ? { tenant, badgeClass } : { tenant, badgeClass, criteriaVersion };
    return [...(await this.latest(filter)).values()].map(progressIn);
  }

  /** Every progress of a tenant whose learner holds an award now, across badge classes, by key. */
  async allHolders(tenant: string): Promise<{ key: string; progress: LearnerProgress }[]> {
    // Not filtered on awardActive: a learner's latest snapshot may be the one without the award.
    return [...(await this.latest({ tenant })).values()].filter((d) => d.awardActive).map((d) => ({ key: d.key, progress: progressIn(d) }));
  }
}

function hasDuplicateKeyErrors(error: unknown): boolean {
  const writeErrors = (error as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  return list.some((e) => e.code === DUPLICATE_KEY);
}
