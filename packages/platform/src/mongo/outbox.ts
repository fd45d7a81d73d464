import type { Collection, Db } from 'mongodb';
import type { Effect } from '@badgestream/criteria';
import type { IssuingMode } from './issuer-settings.js';

/** Where one delivery attempt went: the Caliper events to Kafka, or the award request to the issuer's webhook. */
export type DeliveryTarget = 'kafka' | 'webhook';
/** delivered; retry (a transient failure, tried again later); failed (permanent, or out of attempts); skipped (nothing to deliver there). */
export type DeliveryOutcome = 'delivered' | 'retry' | 'failed' | 'skipped';

export interface DeliveryAttempt {
  at: Date;
  target: DeliveryTarget;
  outcome: DeliveryOutcome;
  /** The HTTP status the webhook answered, when it answered. */
  status?: number;
  error?: string;
  /** How long the attempt took. */
  ms: number;
}

/** The webhook step of an entry: pending until delivered (done), given up (failed), or not wanted (skipped). */
export type WebhookState = 'pending' | 'done' | 'failed' | 'skipped';

export interface OutboxEntry {
  _id: string;
  tenant: string;
  learner: string;
  kind: Effect['kind'];
  effect: Effect;
  /** pending until every step is done; failed when the webhook gave up (kept for an operator). */
  status: 'pending' | 'done' | 'failed';
  /** Whether the effect's Caliper events are in caliper.events (the first step, never repeated once done). */
  published: boolean;
  /** The issuing mode of the tenant when the events were published, which decided the steps. */
  issuing?: IssuingMode;
  /** The webhook step, decided when the events are published. */
  webhook?: WebhookState;
  /** Attempts of both steps. */
  attempts: number;
  webhookAttempts: number;
  /** The last attempts, oldest first (at most ATTEMPT_LOG_LIMIT). */
  attemptLog: DeliveryAttempt[];
  createdAt: Date;
  /** Its place among the entries stored with it (same createdAt): effects keep the order they were emitted in. */
  seq?: number;
  nextAttemptAt: Date;
  lastError?: string;
  publishedAt?: Date;
  doneAt?: Date;
  failedAt?: Date;
}

export const ATTEMPT_LOG_LIMIT = 20;
export const OUTBOX_STATUSES: readonly OutboxEntry['status'][] = ['pending', 'done', 'failed'];

const DUPLICATE_KEY = 11000;
const MARK_CONCURRENCY = 8;

/**
 * Effects waiting to be delivered (collection `criteria_outbox`). An effect is written here
 * before the progress that produced it, under its deterministic id: a crash between the two
 * replays the event, which yields the same effect, which is already here. So nothing is lost,
 * and nothing is delivered twice under two ids.
 *
 * An entry is delivered in two steps, tracked apart so that retrying one never repeats the
 * other: its Caliper events are published to Kafka (`published`), then, for a tenant issuing by
 * webhook, the award request is POSTed to the issuer (`webhook`). Each attempt is recorded in
 * `attemptLog`.
 */
export class MongoOutbox {
  private readonly entries: Collection<OutboxEntry>;

  constructor(db: Db) {
    this.entries = db.collection<OutboxEntry>('criteria_outbox');
  }

  async init(): Promise<void> {
    await this.entries.createIndex({ status: 1, nextAttemptAt: 1 });
    await this.entries.createIndex({ tenant: 1, learner: 1 });
    await this.entries.createIndex({ tenant: 1, status: 1, createdAt: -1 });
  }

  /** Stores effects as pending entries; returns the entries stored now (not those already there). */
  async add(effects: readonly Effect[]): Promise<OutboxEntry[]> {
    if (effects.length === 0) return [];
    const now = new Date();
    const docs: OutboxEntry[] = effects.map((effect, seq) => ({
      _id: effect.id,
      seq,
      tenant: effect.tenant,
      learner: effect.learner,
      kind: effect.kind,
      effect,
      status: 'pending',
      published: false,
      attempts: 0,
      webhookAttempts: 0,
      attemptLog: [],
      createdAt: now,
      nextAttemptAt: now,
    }));
    try {
      await this.entries.insertMany(docs, { ordered: false });
      return docs;
    } catch (error) {
      // Already there from an earlier attempt of the same batch: that is the point.
      const writeErrors = (error as { writeErrors?: { code?: number; index?: number }[] | { code?: number; index?: number } }).writeErrors;
      const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
      if (list.length === 0 || list.some((e) => e.code !== DUPLICATE_KEY)) throw error;
      const known = new Set(list.map((e) => e.index));
      return docs.filter((_, i) => !known.has(i));
    }
  }


  /** Entries whose Caliper events are due to be published, the most overdue first. */
  async dueToPublish(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return this.entries.find({ status: 'pending', nextAttemptAt: { $lte: now }, published: { $ne: true } }).sort({ nextAttemptAt: 1 }).limit(limit).toArray();
  }

  /** Entries whose webhook attempt is due, the most overdue first (apart from the publishing, so a slow issuer never holds up the events). */
  async dueWebhooks(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return this.entries.find({ status: 'pending', nextAttemptAt: { $lte: now }, webhook: 'pending' }).sort({ nextAttemptAt: 1 }).limit(limit).toArray();
  }

  /**
   * The Caliper events of the entry are in Kafka. With a webhook to call the entry stays
   * pending, due now; otherwise it is done. Returns the entry as stored, or undefined when
   * another dispatcher recorded the publication first.
   */
  async markPublished(entry: OutboxEntry, step: { issuing: IssuingMode; webhook: 'pending' | 'skipped'; attempt: DeliveryAttempt }): Promise<OutboxEntry | undefined> {
    const now = step.attempt.at;
    const set = {
      published: true,
      publishedAt: now,
      issuing: step.issuing,
      webhook: step.webhook,
      nextAttemptAt: now,
      attemptLog: appendAttempt(entry, step.attempt),
      ...(step.webhook === 'skipped' ? { status: 'done' as const, doneAt: now } : {}),
    };
    const stored = await this.entries.findOneAndUpdate({ _id: entry._id, published: { $ne: true } }, { $set: set, $inc: { attempts: 1 } }, { returnDocument: 'after' });
    return stored ?? undefined;
  }

  /**
   * The Caliper events of entries that need no webhook are in Kafka: all of them are done.
   */
  async markPublishedDone(entries: readonly OutboxEntry[], issuing: IssuingMode, attempt: DeliveryAttempt): Promise<void> {
    const now = attempt.at;
    const set = { published: true, publishedAt: now, issuing, webhook: 'skipped' as const, nextAttemptAt: now, status: 'done' as const, doneAt: now };
    // One update by _id each, a few at a time: FerretDB finds an _id in PostgreSQL, but filters
    // `$in` in its own process after reading the whole collection.
    for (let i = 0; i < entries.length; i += MARK_CONCURRENCY) {
      await Promise.all(
        entries
          .slice(i, i + MARK_CONCURRENCY)
          .map((entry) => this.entries.updateOne({ _id: entry._id, published: { $ne: true } }, { $set: { ...set, attemptLog: appendAttempt(entry, attempt) }, $inc: { attempts: 1 } })),
      );
    }
  }


  /** Publishing failed; the entry is tried again at `nextAttemptAt`. */
  async publishFailed(entry: OutboxEntry, attempt: DeliveryAttempt, nextAttemptAt: Date): Promise<void> {
    await this.entries.updateOne(
      { _id: entry._id, published: { $ne: true } },
      { $set: { lastError: attempt.error ?? 'unknown error', nextAttemptAt, attemptLog: appendAttempt(entry, attempt) }, $inc: { attempts: 1 } },
    );
  }

  /**
   * Takes a due entry for one webhook attempt by moving its next attempt to `until` (a lease: if
   * this process dies, the entry is due again then). Only one dispatcher wins an entry; the
   * others get undefined.
   */
  async claim(entry: OutboxEntry, until: Date): Promise<OutboxEntry | undefined> {
    const claimed = await this.entries.findOneAndUpdate(
      { _id: entry._id, status: 'pending', nextAttemptAt: entry.nextAttemptAt },
      { $set: { nextAttemptAt: until } },
      { returnDocument: 'after' },
    );
    return claimed ?? undefined;
  }

  /** Records a webhook attempt of a claimed entry and what comes next. */
  async recordWebhookAttempt(entry: OutboxEntry, attempt: DeliveryAttempt, next: { webhook: 'done' | 'skipped' | 'failed' } | { webhook: 'pending'; nextAttemptAt: Date }): Promise<void> {
    const at = attempt.at;
    const set: Partial<OutboxEntry> = { webhook: next.webhook, attemptLog: appendAttempt(entry, attempt) };
    if (attempt.error !== undefined) set.lastError = attempt.error;
    if (next.webhook === 'pending') set.nextAttemptAt = next.nextAttemptAt;
    else if (next.webhook === 'failed') Object.assign(set, { status: 'failed', failedAt: at });
    else Object.assign(set, { status: 'done', doneAt: at });
    const counted = attempt.outcome === 'skipped' ? {} : { attempts: 1, webhookAttempts: 1 };
    await this.entries.updateOne({ _id: entry._id }, { $set: set, $inc: counted });
  }

  /**
   * A failed entry back to pending, due now, with a fresh budget of webhook attempts (its
   * attempt log is kept). Undefined when the tenant has no such entry; the entry unchanged when
   * it is not failed.
   */
  async retry(tenant: string, id: string): Promise<{ entry: OutboxEntry; retried: boolean } | undefined> {
    const retried = await this.entries.findOneAndUpdate(
      { _id: id, tenant, status: 'failed' },
      { $set: { status: 'pending', webhook: 'pending', webhookAttempts: 0, nextAttemptAt: new Date() } },
      { returnDocument: 'after' },
    );
    if (retried) return { entry: retried, retried: true };
    const entry = await this.get(tenant, id);
    return entry ? { entry, retried: false } : undefined;
  }

  async get(tenant: string, id: string): Promise<OutboxEntry | undefined> {
    return (await this.entries.findOne({ _id: id, tenant })) ?? undefined;
  }

  /** A tenant's entries, newest first, optionally of one status. */
  async list(tenant: string, options: { status?: OutboxEntry['status']; limit: number }): Promise<OutboxEntry[]> {
    const filter = options.status ? { tenant, status: options.status } : { tenant };
    return this.entries.find(filter).sort({ createdAt: -1 }).limit(options.limit).toArray();
  }

  /** The effects announced for a tenant's learners, oldest first: the ledger a backfill settles against. */
  async effectsOf(tenant: string): Promise<Effect[]> {
    return (await this.entries.find({ tenant }).sort({ createdAt: 1, seq: 1 }).toArray()).map((e) => e.effect);
  }

  async forLearner(tenant: string, learner: string): Promise<OutboxEntry[]> {
    return this.entries.find({ tenant, learner }).sort({ createdAt: 1, seq: 1 }).toArray();
  }

  async countPending(): Promise<number> {
    return this.entries.countDocuments({ status: 'pending' });
  }

  async countFailed(): Promise<number> {
    return this.entries.countDocuments({ status: 'failed' });
  }
}

/** `$push` with `$slice` is ignored by FerretDB, so the capped log is computed here and `$set`. */
function appendAttempt(entry: OutboxEntry, attempt: DeliveryAttempt): DeliveryAttempt[] {
  return [...(entry.attemptLog ?? []), attempt].slice(-ATTEMPT_LOG_LIMIT);
}
