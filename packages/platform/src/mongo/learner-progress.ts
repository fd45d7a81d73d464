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
const LOOKUP_CONCURRENCY = 16;

export function progressKey(tenant: string, learner: string, badgeClass: string, criteriaVersion: number): string {
  return `${tenant}|${learner}|${badgeClass}|${criteriaVersion}`;
}

/**
 * One document per tenant, learner, badge class and criteria version (collection
 * `learner_progress`). Saves are compare-and-set on `rev`, so two consumers that briefly
 * hold the same partition during a rebalance cannot overwrite each other's work.
 */
export class MongoLearnerProgress {
  private readonly docs: Collection<ProgressDoc>;

  constructor(db: Db) {
    this.docs = db.collection<ProgressDoc>('learner_progress');
  }

  async init(): Promise<void> {
    await this.docs.createIndex({ tenant: 1, learner: 1 });
    await this.docs.createIndex({ tenant: 1, badgeClass: 1, awardActive: 1 });
  }

  async getMany(keys: readonly string[]): Promise<Map<string, StoredProgress>> {
    const found = new Map<string, StoredProgress>();
    // One lookup by _id per key, a few at a time: FerretDB answers _id equality from an index
    // but scans the collection for $in.
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += LOOKUP_CONCURRENCY) {
      const docs = await Promise.all(unique.slice(i, i + LOOKUP_CONCURRENCY).map((_id) => this.docs.findOne({ _id })));
      for (const doc of docs) if (doc) found.set(doc._id, { rev: doc.rev, progress: doc.progress });
    }
    return found;
  }

  /** Saves if nobody saved since `expectedRev` was read (null: the document must not exist yet). */
  async save(key: string, expectedRev: number | null, progress: LearnerProgress): Promise<boolean> {
    const fields = {
      tenant: progress.tenant,
      learner: progress.learner,
      badgeClass: progress.badgeClass,
      criteriaVersion: progress.criteriaVersion,
      awardActive: progress.award !== null,
      progress,
      updatedAt: new Date(),
    };
    if (expectedRev === null) {
      try {
        await this.docs.insertOne({ _id: key, rev: 1, ...fields });
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
        throw error;
      }
    }
    const result = await this.docs.updateOne({ _id: key, rev: expectedRev }, { $set: { ...fields, rev: expectedRev + 1 } });
    return result.matchedCount === 1;
  }

  async forLearner(tenant: string, learner: string): Promise<LearnerProgress[]> {
    const docs = await this.docs.find({ tenant, learner }).sort({ badgeClass: 1, criteriaVersion: 1 }).toArray();
    return docs.map((d) => d.progress);
  }

  /** Progress documents of a badge class whose learner holds an award now. */
  async holders(tenant: string, badgeClass: string): Promise<LearnerProgress[]> {
    const docs = await this.docs.find({ tenant, badgeClass, awardActive: true }).toArray();
    return docs.map((d) => d.progress);
  }

  async forBadgeClass(tenant: string, badgeClass: string, criteriaVersion?: number): Promise<LearnerProgress[]> {
    const filter = criteriaVersion === undefined ? { tenant, badgeClass } : { tenant, badgeClass, criteriaVersion };
    return (await this.docs.find(filter).toArray()).map((d) => d.progress);
  }
}
