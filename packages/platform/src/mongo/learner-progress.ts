import { createHash } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Collection, Db, Filter } from 'mongodb';
import type { LearnerProgress } from '@badgestream/criteria';
import { asText, fromText } from './packed.js';

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
  return fromText<LearnerProgress>(doc.progress);
}

/** Where a partition's progress stands in MongoDB: every snapshot up to `gen` is written, and they reflect the partition's records before `offset` under `criteria`. */
export interface ProgressCheckpoint {
  gen: number;
  /**
   * The generation that started the partition's current collection of snapshots (see
   * MongoLearnerProgress, rotation); absent for the collection of checkpoints written before
   * rotation, which has no suffix.
   */
  since?: number;
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

/** Snapshots per insert when a flush writes many (a rotation writes every key of the partition). */
const ROTATION_BATCH = 1000;

/**
 * Learner progress in MongoDB, as snapshots written in the background by the criteria consumer
 * (see CriteriaProcessor): the consumer keeps the progress of the partitions it owns in memory,
 * and every second or so writes what changed as new documents of a new generation, then moves the
 * partition's checkpoint (collection `criteria_checkpoints`) to that generation and the offset it
 * reflects. Readers take the latest generation of each key; a consumer that takes a partition over
 * loads its snapshots up to the checkpoint and applies the event history (MongoEventHistory) after
 * the checkpoint's offset.
 *
 * Why snapshots rather than one document updated per event: FerretDB, which the local stack runs,
 * inserts a batch about fifty times faster than it updates documents one by one. Why one
 * collection per consumer group and partition: FerretDB answers every query but an `_id` lookup by
 * reading the whole collection, so what a consumer taking a partition over reads is exactly that
 * partition's progress, and a learner's progress is read from the collection of the partition
 * their events go to (the same key and partitioner as the producers: DefaultPartitioner over
 * `<tenant>|<learner>`). MongoDB proper is indifferent to the split.
 *
 * Rotation: snapshots that later ones supersede pile up, and on FerretDB deleting them costs a
 * pass over the whole collection (a `$in` of a few thousand ids over ten thousand snapshots took
 * three seconds). So they are never deleted one by one: once a partition's collection holds
 * enough superseded snapshots, a flush writes every key's progress into a new collection
 * (`learner_progress_<group hash>_p<partition>_g<gen>`, named by that flush's generation), the
 * checkpoint moves to it (`since`), and the partition's other collections are dropped, but for
 * the one just left, which readers that looked at the checkpoint a moment before may still be
 * reading (it goes at the next rotation).
 */
export class MongoLearnerProgress {
  private readonly db: Db;
  private readonly prefix: string;
  private readonly collections = new Map<string, Collection<ProgressDoc>>();
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

  /** The name of a partition's collection of snapshots started by generation `since` (none: from before rotation). */
  private nameOf(partition: number, since: number | undefined): string {
    return since === undefined ? `${this.prefix}${partition}` : `${this.prefix}${partition}_g${since}`;
  }

  private collectionOf(partition: number, since: number | undefined): Collection<ProgressDoc> {
    const name = this.nameOf(partition, since);
    let docs = this.collections.get(name);
    if (!docs) this.collections.set(name, (docs = this.db.collection<ProgressDoc>(name)));
    return docs;
  }

  /** The collections of snapshots of a partition that exist, with the generation that started each (undefined: from before rotation). */
  private async collectionsOfPartition(partition: number): Promise<{ name: string; since: number | undefined }[]> {
    const base = `${this.prefix}${partition}`;
    const names = (await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    return names.flatMap((name): { name: string; since: number | undefined }[] => {
      if (name === base) return [{ name, since: undefined }];
      const match = new RegExp(`^${base}_g(\\d+)$`).exec(name);
      return match ? [{ name, since: Number(match[1]) }] : [];
    });
  }

  /** The current collection of each partition with a checkpoint (all of them, or the one of `partition`). */
  private async currentCollections(partition?: number): Promise<Collection<ProgressDoc>[]> {
    const filter = partition === undefined ? { group: this.group } : { group: this.group, partition };
    return (await this.checkpoints.find(filter).toArray()).map((c) => this.collectionOf(c.partition, c.since));
  }

  /** The latest snapshot of each key among the documents matching `filter`. */
  private async latest(filter: Filter<ProgressDoc>, partition?: number): Promise<Map<string, ProgressDoc>> {
    const docs = (await Promise.all((await this.currentCollections(partition)).map((c) => c.find(filter).toArray()))).flat();
    const byKey = new Map<string, ProgressDoc>();
    for (const doc of docs) {
      const known = byKey.get(doc.key);
      if (!known || known.gen < doc.gen) byKey.set(doc.key, doc);
    }
    return byKey;
  }

  async checkpoint(topic: string, partition: number): Promise<ProgressCheckpoint | undefined> {
    const doc = await this.checkpoints.findOne({ _id: `${this.group}|${topic}|${partition}` });
    return doc ? { gen: doc.gen, offset: doc.offset, criteria: doc.criteria, at: doc.at, ...(doc.since !== undefined ? { since: doc.since } : {}) } : undefined;
  }

  /**
   * The progress of a partition as of its checkpoint, by key, and the highest generation of the
   * partition found: snapshots above the checkpoint's generation are left by a flush that did not
   * finish (ignored here), and so are collections a rotation that did not finish started; the
   * next flush takes a generation above them all. `snapshots`: how many the collection holds.
   */
  async loadPartition(partition: number, checkpoint: Pick<ProgressCheckpoint, 'gen' | 'since'> | undefined): Promise<{ progress: Map<string, LearnerProgress>; highestGen: number; snapshots: number }> {
    const gen = checkpoint?.gen ?? 0;
    let highestGen = gen;
    for (const { since } of await this.collectionsOfPartition(partition)) highestGen = Math.max(highestGen, since ?? 0);
    const byKey = new Map<string, ProgressDoc>();
    let snapshots = 0;
    if (checkpoint) {
      for (const doc of await this.collectionOf(partition, checkpoint.since).find({}).toArray()) {
        snapshots++;
        highestGen = Math.max(highestGen, doc.gen);
        if (doc.gen > gen) continue;
        const known = byKey.get(doc.key);
        if (!known || known.gen < doc.gen) byKey.set(doc.key, doc);
      }
    }
    const progress = new Map<string, LearnerProgress>();
    for (const [key, doc] of byKey) progress.set(key, progressIn(doc));
    return { progress, highestGen, snapshots };
  }

  /**
   * One flush of a partition: writes the changed progress as generation `checkpoint.gen` (above
   * every generation of the partition, finished or not) into the collection `checkpoint.since`
   * started, then moves the checkpoint there, but only if it still stands at `previous` (another
   * consumer that took the partition over writes its own generations: ProgressCheckpointConflict).
   * A flush that starts a collection (a rotation: `since` is its own generation, and `changed`
   * holds every key) then drops the partition's collections but that one and the one it replaces.
   */
  async flush(topic: string, partition: number, previous: Pick<ProgressCheckpoint, 'gen' | 'since'> | undefined, checkpoint: Omit<ProgressCheckpoint, 'at'>, changed: ReadonlyMap<string, LearnerProgress>): Promise<void> {
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
      progress: asText(progress),
      updatedAt,
    }));
    const collection = this.collectionOf(partition, checkpoint.since);
    try {
      // In parts: a rotation writes every key, and other work gets FerretDB in between.
      for (let i = 0; i < docs.length; i += ROTATION_BATCH) await collection.insertMany(docs.slice(i, i + ROTATION_BATCH), { ordered: false });
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY || hasDuplicateKeyErrors(error)) throw new ProgressCheckpointConflict(partition);
      throw error;
    }
    const _id = `${this.group}|${topic}|${partition}`;
    const doc: CheckpointDoc = { _id, group: this.group, topic, partition, ...checkpoint, at: updatedAt };
    if (!previous) {
      try {
        await this.checkpoints.insertOne(doc);
      } catch (error) {
        if ((error as { code?: number }).code === DUPLICATE_KEY) throw new ProgressCheckpointConflict(partition);
        throw error;
      }
    } else {
      const moved = await this.checkpoints.replaceOne({ _id, gen: previous.gen }, doc);
      if (moved.matchedCount !== 1) throw new ProgressCheckpointConflict(partition);
    }
    if (checkpoint.since !== previous?.since) {
      const keep = new Set([this.nameOf(partition, checkpoint.since), ...(previous ? [this.nameOf(partition, previous.since)] : [])]);
      for (const { name } of await this.collectionsOfPartition(partition)) {
        if (!keep.has(name)) await this.db.dropCollection(name).catch(() => undefined);
      }
    }
  }

  /** Drops every snapshot and checkpoint of the group: for a consumer group retired for good (its consumers stopped). */
  async forget(): Promise<void> {
    const names = (await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((name) => name.startsWith(this.prefix));
    for (const name of names) await this.db.dropCollection(name).catch(() => undefined);
    await this.checkpoints.deleteMany({ group: this.group });
  }

  async forLearner(tenant: string, learner: string): Promise<LearnerProgress[]> {
    const latest = await this.latest({ tenant, learner }, this.partitionOf?.(`${tenant}|${learner}`));
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
