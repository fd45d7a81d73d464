import type { Collection, Db } from 'mongodb';
import type { Effect } from '@badgestream/criteria';
import { findByIds } from './by-id.js';
import { asText, fromText } from './packed.js';
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

/** An entry whose Caliper events were published, under the tenant's issuing mode then, by that attempt. */
export interface PublishedEntry {
  entry: OutboxEntry;
  issuing: IssuingMode;
  attempt: DeliveryAttempt;
}

/** An effect as the ledger keeps it: what was announced, once, in the order it was emitted. */
export interface LedgerEntry {
  _id: string;
  tenant: string;
  learner: string;
  kind: Effect['kind'];
  effect: Effect;
  createdAt: Date;
  seq: number;
}

/**
 * How the collections hold entries: the effect as JSON text, one field that FerretDB stores as it
 * is (an effect, with its provenance, is read only ever whole). Entries written before hold the
 * effect itself.
 */
type Stored<T extends { effect: Effect }> = Omit<T, 'effect'> & { effect: string | Effect };

function toStored<T extends { effect: Effect }>(entry: T): Stored<T> {
  return { ...entry, effect: asText(entry.effect) };
}

function fromStored<T extends { effect: Effect }>(doc: Stored<T>): T {
  return { ...doc, effect: fromText<Effect>(doc.effect) } as T;
}

function entryOf(doc: Stored<OutboxEntry>): OutboxEntry {
  return fromStored<OutboxEntry>(doc);
}

function entryOrUndefined(doc: Stored<OutboxEntry> | null | undefined): OutboxEntry | undefined {
  return doc ? entryOf(doc) : undefined;
}

/**
 * Effects to deliver, and the record of what was announced, in three collections:
 *
 * - `criteria_outbox`, the ledger: every effect ever emitted, under its deterministic id,
 *   written once and never updated. A backfill settles against it (effectsOf).
 * - `criteria_outbox_pending`: the delivery state of the entries not yet done (pending, or
 *   failed and kept for an operator). The only collection updated while delivering, and kept
 *   small: an entry leaves it when it is done.
 * - `criteria_outbox_done`: entries in their final state, with their attempt log, written once.
 *
 * The split is for FerretDB, where an update or delete by `_id` scans its whole collection:
 * updating entries in a collection of every effect ever emitted slowed delivery to tens per
 * second as the ledger grew. Inserts stay cheap at any size.
 *
 * An effect is stored before the progress that produced it: a crash between the two replays the
 * event, which yields the same effect, which is already here. So nothing is lost, and nothing
 * is delivered twice under two ids.
 *
 * An entry is delivered in two steps, tracked apart so that retrying one never repeats the
 * other: its Caliper events are published to Kafka (`published`), then, for a tenant issuing by
 * webhook, the award request is POSTed to the issuer (`webhook`). Each attempt is recorded in
 * `attemptLog`.
 */
export class MongoOutbox {
  private readonly ledger: Collection<Stored<LedgerEntry>>;
  private readonly pending: Collection<Stored<OutboxEntry>>;
  private readonly done: Collection<Stored<OutboxEntry>>;

  constructor(db: Db) {
    this.ledger = db.collection<Stored<LedgerEntry>>('criteria_outbox');
    this.pending = db.collection<Stored<OutboxEntry>>('criteria_outbox_pending');
    this.done = db.collection<Stored<OutboxEntry>>('criteria_outbox_done');
  }

  async init(): Promise<void> {
    await this.ledger.createIndex({ tenant: 1, createdAt: 1, seq: 1 });
    await this.ledger.createIndex({ tenant: 1, learner: 1 });
    await this.pending.createIndex({ status: 1, nextAttemptAt: 1 });
    await this.done.createIndex({ tenant: 1, learner: 1 });
    await this.done.createIndex({ tenant: 1, createdAt: -1 });
  }

  /**
   * Stores effects: in the ledger, and as pending deliveries. Returns the entries new to the
   * ledger (not those an earlier attempt of the same batch stored).
   *
   * The delivery is queued as the ledger is written. An effect that was queued now but was
   * already in the ledger is a replay: of one delivered before (done), whose delivery is taken
   * back (a crash before that delivers it once more, under the same id), or of one whose
   * delivery a crash kept from being queued, which is queued now. So no ledger entry is left
   * without its delivery.
   */
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
    const stored = docs.map(toStored);
    const [queued, recorded] = await Promise.all([
      insertNew(this.pending, stored),
      insertNew(
        this.ledger,
        stored.map(({ _id, tenant, learner, kind, effect, createdAt, seq }) => ({ _id, tenant, learner, kind, effect, createdAt, seq: seq ?? 0 })),
      ),
    ]);
    // Queued now but in the ledger already: a replay. Delivered before if it is done (queued again
    // only now: taken back); otherwise an earlier attempt wrote the ledger and crashed before it
    // queued the delivery, which is queued now. Replays are rare, so the done collection, large,
    // is read only for them, one id at a time (findByIds).
    const replayed = docs.filter((_, i) => queued.has(i) && !recorded.has(i)).map((d) => d._id);
    const done = (await findByIds(this.done, replayed, { projection: { _id: 1 } })).map((d) => d._id);
    if (done.length > 0) await this.pending.deleteMany({ ...byIds(done), published: false });
    return docs.filter((_, i) => recorded.has(i));
  }

  /** Entries whose Caliper events are due to be published, the most overdue first. */
  async dueToPublish(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return (await this.pending.find({ status: 'pending', nextAttemptAt: { $lte: now }, published: { $ne: true } }).sort({ nextAttemptAt: 1 }).limit(limit).toArray()).map(entryOf);
  }

  /** Entries whose webhook attempt is due, the most overdue first (apart from the publishing, so a slow issuer never holds up the events). */
  async dueWebhooks(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return (await this.pending.find({ status: 'pending', nextAttemptAt: { $lte: now }, webhook: 'pending' }).sort({ nextAttemptAt: 1 }).limit(limit).toArray()).map(entryOf);
  }

  /**
   * The Caliper events of the entry are in Kafka and its webhook is due now. Returns the entry
   * as stored, or undefined when another dispatcher recorded the publication first.
   */
  async markPublished(entry: OutboxEntry, step: { issuing: IssuingMode; attempt: DeliveryAttempt }): Promise<OutboxEntry | undefined> {
    const now = step.attempt.at;
    const set = { published: true, publishedAt: now, issuing: step.issuing, webhook: 'pending' as const, nextAttemptAt: now, attemptLog: appendAttempt(entry, step.attempt) };
    return entryOrUndefined(await this.pending.findOneAndUpdate({ _id: entry._id, published: { $ne: true } }, { $set: set, $inc: { attempts: 1 } }, { returnDocument: 'after' }));
  }

  /**
   * The Caliper events of entries that need no webhook are in Kafka: all of them are done. One
   * insert and one delete for the lot, however many: the more at once, the cheaper each.
   */
  async markPublishedDone(published: readonly PublishedEntry[]): Promise<void> {
    if (published.length === 0) return;
    await this.finish(
      published.map(({ entry, issuing, attempt }) => ({
        ...entry,
        published: true,
        publishedAt: attempt.at,
        issuing,
        webhook: 'skipped' as const,
        nextAttemptAt: attempt.at,
        status: 'done' as const,
        doneAt: attempt.at,
        attempts: entry.attempts + 1,
        attemptLog: appendAttempt(entry, attempt),
      })),
    );
  }

  /** Publishing failed; the entry is tried again at `nextAttemptAt`. */
  async publishFailed(entry: OutboxEntry, attempt: DeliveryAttempt, nextAttemptAt: Date): Promise<void> {
    await this.pending.updateOne(
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
    const claimed = await this.pending.findOneAndUpdate(
      { _id: entry._id, status: 'pending', nextAttemptAt: entry.nextAttemptAt },
      { $set: { nextAttemptAt: until } },
      { returnDocument: 'after' },
    );
    return entryOrUndefined(claimed);
  }

  /** Records a webhook attempt of a claimed entry and what comes next. */
  async recordWebhookAttempt(entry: OutboxEntry, attempt: DeliveryAttempt, next: { webhook: 'done' | 'skipped' | 'failed' } | { webhook: 'pending'; nextAttemptAt: Date }): Promise<void> {
    const at = attempt.at;
    const set: Partial<OutboxEntry> = { webhook: next.webhook, attemptLog: appendAttempt(entry, attempt) };
    if (attempt.error !== undefined) set.lastError = attempt.error;
    if (next.webhook === 'pending') set.nextAttemptAt = next.nextAttemptAt;
    else if (next.webhook === 'failed') Object.assign(set, { status: 'failed', failedAt: at });
    else Object.assign(set, { status: 'done', doneAt: at });
    const counted = attempt.outcome === 'skipped' ? 0 : 1;
    if (set.status === 'done') {
      await this.finish([{ ...entry, ...set, attempts: entry.attempts + counted, webhookAttempts: entry.webhookAttempts + counted }]);
      return;
    }
    await this.pending.updateOne({ _id: entry._id }, { $set: set, $inc: { attempts: counted, webhookAttempts: counted } });
  }

  /**
   * A failed entry back to pending, due now, with a fresh budget of webhook attempts (its
   * attempt log is kept). Undefined when the tenant has no such entry; the entry unchanged when
   * it is not failed.
   */
  async retry(tenant: string, id: string): Promise<{ entry: OutboxEntry; retried: boolean } | undefined> {
    const retried = await this.pending.findOneAndUpdate(
      { _id: id, tenant, status: 'failed' },
      { $set: { status: 'pending', webhook: 'pending', webhookAttempts: 0, nextAttemptAt: new Date() } },
      { returnDocument: 'after' },
    );
    if (retried) return { entry: entryOf(retried), retried: true };
    const entry = await this.get(tenant, id);
    return entry ? { entry, retried: false } : undefined;
  }

  async get(tenant: string, id: string): Promise<OutboxEntry | undefined> {
    return entryOrUndefined((await this.pending.findOne({ _id: id, tenant })) ?? (await this.done.findOne({ _id: id, tenant })));
  }

  /** A tenant's entries, newest first, optionally of one status. */
  async list(tenant: string, options: { status?: OutboxEntry['status']; limit: number }): Promise<OutboxEntry[]> {
    const newest = async (c: Collection<Stored<OutboxEntry>>, filter: Record<string, unknown>) => (await c.find({ tenant, ...filter }).sort({ createdAt: -1, seq: -1 }).limit(options.limit).toArray()).map(entryOf);
    if (options.status === 'done') return newest(this.done, {});
    if (options.status) return newest(this.pending, { status: options.status });
    const [open, finished] = await Promise.all([newest(this.pending, {}), newest(this.done, {})]);
    return [...open, ...finished].sort(newestFirst).slice(0, options.limit);
  }

  /** The effects announced for a tenant's learners, oldest first: the ledger a backfill settles against. */
  async effectsOf(tenant: string): Promise<Effect[]> {
    return (await this.ledger.find({ tenant }).sort({ createdAt: 1, seq: 1 }).toArray()).map((e) => fromStored<LedgerEntry>(e).effect);
  }

  /** A learner's entries with their delivery state, oldest first. */
  async forLearner(tenant: string, learner: string): Promise<OutboxEntry[]> {
    const [open, finished] = await Promise.all([this.pending.find({ tenant, learner }).toArray(), this.done.find({ tenant, learner }).toArray()]);
    const byId = new Map([...finished, ...open].map((e) => [e._id, entryOf(e)]));
    return [...byId.values()].sort(newestFirst).reverse();
  }

  async countPending(): Promise<number> {
    return this.pending.countDocuments({ status: 'pending' });
  }

  async countFailed(): Promise<number> {
    return this.pending.countDocuments({ status: 'failed' });
  }

  /** Entries in their final state: recorded as done, then out of the pending collection. */
  private async finish(entries: readonly OutboxEntry[]): Promise<void> {
    // A second dispatcher that published the same entry finds it done already: that is fine.
    await insertNew(this.done, entries.map(toStored));
    // One delete for the batch: `$in` is filtered by FerretDB after reading the collection, which
    // this one keeps small.
    await this.pending.deleteMany(byIds(entries.map((e) => e._id)));
  }
}

/** A filter on some ids: a plain equality for one (which FerretDB hands to PostgreSQL). */
function byIds(ids: readonly string[]): { _id: string | { $in: string[] } } {
  return { _id: ids.length === 1 ? ids[0]! : { $in: [...ids] } };
}

function newestFirst(a: OutboxEntry, b: OutboxEntry): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (b.seq ?? 0) - (a.seq ?? 0);
}

/** Inserts documents, tolerating those already there; returns the indexes of those inserted now. */
async function insertNew<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<Set<number>> {
  const all = new Set(docs.map((_, i) => i));
  if (docs.length === 0) return all;
  try {
    await collection.insertMany(docs as never, { ordered: false });
    return all;
  } catch (error) {
    const writeErrors = (error as { writeErrors?: { code?: number; index?: number }[] | { code?: number; index?: number } }).writeErrors;
    const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    if (list.length === 0 || list.some((e) => e.code !== DUPLICATE_KEY)) throw error;
    for (const e of list) all.delete(e.index!);
    return all;
  }
}

/** `$push` with `$slice` is ignored by FerretDB, so the capped log is computed here and `$set`. */
function appendAttempt(entry: OutboxEntry, attempt: DeliveryAttempt): DeliveryAttempt[] {
  return [...(entry.attemptLog ?? []), attempt].slice(-ATTEMPT_LOG_LIMIT);
}
