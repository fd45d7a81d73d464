import type { Collection, Db } from 'mongodb';
import type { Effect } from '@badgestream/criteria';

export interface OutboxEntry {
  _id: string;
  tenant: string;
  learner: string;
  kind: Effect['kind'];
  effect: Effect;
  status: 'pending' | 'done';
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  lastError?: string;
  doneAt?: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * Effects waiting to be delivered (collection `criteria_outbox`). An effect is written here
 * before the progress that produced it, under its deterministic id: a crash between the two
 * replays the event, which yields the same effect, which is already here. So nothing is lost,
 * and nothing is delivered twice under two ids.
 */
export class MongoOutbox {
  private readonly entries: Collection<OutboxEntry>;

  constructor(db: Db) {
    this.entries = db.collection<OutboxEntry>('criteria_outbox');
  }

  async init(): Promise<void> {
    await this.entries.createIndex({ status: 1, nextAttemptAt: 1 });
    await this.entries.createIndex({ tenant: 1, learner: 1 });
  }

  async add(effects: readonly Effect[]): Promise<void> {
    if (effects.length === 0) return;
    const now = new Date();
    const docs: OutboxEntry[] = effects.map((effect) => ({
      _id: effect.id,
      tenant: effect.tenant,
      learner: effect.learner,
      kind: effect.kind,
      effect,
      status: 'pending',
      attempts: 0,
      createdAt: now,
      nextAttemptAt: now,
    }));
    try {
      await this.entries.insertMany(docs, { ordered: false });
    } catch (error) {
      // Already there from an earlier attempt of the same batch: that is the point.
      const writeErrors = (error as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
      const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
      if (list.length === 0 || list.some((e) => e.code !== DUPLICATE_KEY)) throw error;
    }
  }

  async due(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return this.entries.find({ status: 'pending', nextAttemptAt: { $lte: now } }).sort({ nextAttemptAt: 1 }).limit(limit).toArray();
  }

  async markDone(id: string): Promise<void> {
    await this.entries.updateOne({ _id: id }, { $set: { status: 'done', doneAt: new Date() }, $inc: { attempts: 1 } });
  }

  async markFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    await this.entries.updateOne({ _id: id }, { $set: { lastError: error, nextAttemptAt }, $inc: { attempts: 1 } });
  }

  async forLearner(tenant: string, learner: string): Promise<OutboxEntry[]> {
    return this.entries.find({ tenant, learner }).sort({ createdAt: 1 }).toArray();
  }

  async countPending(): Promise<number> {
    return this.entries.countDocuments({ status: 'pending' });
  }
}
