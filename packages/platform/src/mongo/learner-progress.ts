import { createHash } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { LearnerProgress } from '@badgestream/criteria';

interface ProgressDoc {
  _id: string;
  tenant: string;
  learner: string;
  badgeClass: string;
  criteriaVersion: number;
  /** Optimistic concurrency: bumped by every save. */
  rev: number;
  awardActive: boolean;
  progress: LearnerProgress;
  updatedAt: Date;
}

export interface StoredProgress {
  rev: number;
  progress: LearnerProgress;
}

const DUPLICATE_KEY = 11000;

function fieldsOf(progress: LearnerProgress): Omit<ProgressDoc, '_id' | 'rev'> {
  return {
    tenant: progress.tenant,
    learner: progress.learner,
    badgeClass: progress.badgeClass,
    criteriaVersion: progress.criteriaVersion,
    awardActive: progress.award !== null,
    progress,
    updatedAt: new Date(),
  };
}
const LOOKUP_CONCURRENCY = 16;

export function progressKey(tenant: string, learner: string, badgeClass: string, criteriaVersion: number): string {
  return `${tenant}|${learner}|${badgeClass}|${criteriaVersion}`;
}

/** Collections the progress documents are spread over, by learner (see MongoLearnerProgress). */
export const PROGRESS_BUCKETS = 32;

/**
 * One document per tenant, learner, badge class and criteria version. Saves are compare-and-set
 * on `rev`, so two consumers that briefly hold the same partition during a rebalance cannot
 * overwrite each other's work.
 *
 * The documents are spread by learner over PROGRESS_BUCKETS collections
 * (`learner_progress_00` … `_31`): FerretDB, which the tests run on, answers even an `_id`
 * lookup by scanning the collection (measured: 116 ms at 19,000 documents), so one large
 * collection makes every event slower than the last. A learner's documents share a bucket;
 * MongoDB proper is indifferent to the split.
 */
export class MongoLearnerProgress {
  private readonly buckets: Collection<ProgressDoc>[];

  constructor(db: Db) {
    this.buckets = Array.from({ length: PROGRESS_BUCKETS }, (_, i) => db.collection<ProgressDoc>(`learner_progress_${String(i).padStart(2, '0')}`));
  }

  async init(): Promise<void> {
    for (const docs of this.buckets) {
      await docs.createIndex({ tenant: 1, learner: 1 });
      await docs.createIndex({ tenant: 1, badgeClass: 1, awardActive: 1 });
    }
  }

  private bucketOf(key: string): Collection<ProgressDoc> {
    // The key starts with "<tenant>|<learner>|": hash those two parts only.
    const [tenant, learner] = key.split('|', 2);
    return this.bucketOfLearner(tenant!, learner!);
  }

  private bucketOfLearner(tenant: string, learner: string): Collection<ProgressDoc> {
    const digest = createHash('sha1').update(`${tenant}|${learner}`).digest();
    return this.buckets[digest.readUInt32BE(0) % PROGRESS_BUCKETS]!;
  }

  private async fromAll(filter: Partial<ProgressDoc>): Promise<ProgressDoc[]> {
    return (await Promise.all(this.buckets.map((docs) => docs.find(filter).toArray()))).flat();
  }

  async getMany(keys: readonly string[]): Promise<Map<string, StoredProgress>> {
    const found = new Map<string, StoredProgress>();
    // One lookup by _id per key, a few at a time: FerretDB answers _id equality from an index
    // but scans the collection for $in.
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += LOOKUP_CONCURRENCY) {
      const docs = await Promise.all(unique.slice(i, i + LOOKUP_CONCURRENCY).map((_id) => this.bucketOf(_id).findOne({ _id })));
      for (const doc of docs) if (doc) found.set(doc._id, { rev: doc.rev, progress: doc.progress });
    }
    return found;
  }

  /**
   * Saves many documents, each only if nobody saved it since `expectedRev` was read (null: it
   * must not exist yet). New documents go in one insertMany per bucket, updates a few at a time.
   * Returns the keys that were not saved because another consumer got there first.
   */
  async saveMany(entries: readonly { key: string; expectedRev: number | null; progress: LearnerProgress }[]): Promise<string[]> {
    const conflicts: string[] = [];
    const inserts = new Map<Collection<ProgressDoc>, ProgressDoc[]>();
    const updates = entries.filter((e) => e.expectedRev !== null);
    for (const e of entries) {
      if (e.expectedRev !== null) continue;
      const bucket = this.bucketOf(e.key);
      let docs = inserts.get(bucket);
      if (!docs) inserts.set(bucket, (docs = []));
      docs.push({ _id: e.key, rev: 1, ...fieldsOf(e.progress) });
    }
    await Promise.all(
      [...inserts].map(async ([bucket, docs]) => {
        try {
          await bucket.insertMany(docs, { ordered: false });
        } catch (error) {
          const writeErrors = (error as { writeErrors?: { code?: number; index?: number }[] | { code?: number; index?: number } }).writeErrors;
          const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
          if (list.length === 0 || list.some((w) => w.code !== DUPLICATE_KEY)) throw error;
          for (const w of list) conflicts.push(docs[w.index ?? 0]!._id);
        }
      }),
    );
    for (let i = 0; i < updates.length; i += LOOKUP_CONCURRENCY) {
      const slice = updates.slice(i, i + LOOKUP_CONCURRENCY);
      const saved = await Promise.all(slice.map((e) => this.save(e.key, e.expectedRev, e.progress)));
      slice.forEach((e, j) => saved[j] || conflicts.push(e.key));
    }
    return conflicts;
  }

  /** Saves if nobody saved since `expectedRev` was read (null: the document must not exist yet). */
  async save(key: string, expectedRev: number | null, progress: LearnerProgress): Promise<boolean> {
    const fields = fieldsOf(progress);
    if (expectedRev === null) {
      try {
        await this.bucketOf(key).insertOne({ _id: key, rev: 1, ...fields });
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
        throw error;
      }
    }
    const result = await this.bucketOf(key).updateOne({ _id: key, rev: expectedRev }, { $set: { ...fields, rev: expectedRev + 1 } });
    return result.matchedCount === 1;
  }

  async forLearner(tenant: string, learner: string): Promise<LearnerProgress[]> {
    const docs = await this.bucketOfLearner(tenant, learner).find({ tenant, learner }).sort({ badgeClass: 1, criteriaVersion: 1 }).toArray();
    return docs.map((d) => d.progress);
  }

  /** Progress documents of a badge class whose learner holds an award now. */
  async holders(tenant: string, badgeClass: string): Promise<LearnerProgress[]> {
    return (await this.fromAll({ tenant, badgeClass, awardActive: true })).map((d) => d.progress);
  }

  async forBadgeClass(tenant: string, badgeClass: string, criteriaVersion?: number): Promise<LearnerProgress[]> {
    const filter = criteriaVersion === undefined ? { tenant, badgeClass } : { tenant, badgeClass, criteriaVersion };
    return (await this.fromAll(filter)).map((d) => d.progress);
  }

  /** Every progress document of a tenant whose learner holds an award now, across badge classes. */
  async allHolders(tenant: string): Promise<{ key: string; progress: LearnerProgress }[]> {
    return (await this.fromAll({ tenant, awardActive: true })).map((d) => ({ key: d._id, progress: d.progress }));
  }
}
