import type { Collection, Db } from 'mongodb';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { findByIds } from './by-id.js';

/** How the relay authenticates to an issuer's endpoint: a bearer token, an HMAC signing secret, or both. */
export interface EndpointCredentials {
  token?: string;
  secret?: string;
}

/** An issuer endpoint a tenant relays to (what may be shown: never the credentials). */
export interface RelayEndpoint {
  tenant: string;
  endpoint: string;
  hasToken: boolean;
  hasSecret: boolean;
  createdAt: Date;
}

interface RelayEndpointDoc {
  /** `<tenant> <endpoint>`. */
  _id: string;
  tenant: string;
  endpoint: string;
  /** Kept as given, not hashed: sending needs them. */
  token?: string;
  secret?: string;
  createdAt: Date;
}

/** An event waiting to be relayed. Written before its offset is committed; deleted once it has an outcome. */
export interface PendingRelay {
  /** `<tenant>|<event id>`: an event is relayed at most once per tenant. */
  _id: string;
  tenant: string;
  /** The Kafka partition the event came from: the relay instance owning it delivers it. */
  partition: number;
  eventId: string;
  /** The advertised endpoint, or '' when it could not be read yet (resolved again before delivery). */
  endpoint: string;
  /** The event as JSON text (keys of Caliper events may hold dots, which the server refuses). */
  event: string;
  createdAt: Date;
  /** A dead letter put back by an operator (requeueDead): the only records a running relay picks up by itself. */
  requeued?: true;
}

export type RelayOutcomeKind = 'delivered' | 'dead' | 'refused';

/** What became of a relayed event, for good: insert-only, one per event (the id is the pending id). */
export interface RelayOutcome {
  _id: string;
  tenant: string;
  endpoint: string;
  eventId: string;
  outcome: RelayOutcomeKind;
  /** Why it was given up (dead) or never sent (refused). */
  reason?: string;
  attempts: number;
  at: Date;
  /** The event and the Kafka partition it came from, kept for dead letters (to inspect, or send again with requeueDead). */
  event?: string;
  partition?: number;
}

/** One failed delivery attempt of an event (insert-only: `<pending id>#<n>`). */
export interface RelayAttempt {
  _id: string;
  deliveryId: string;
  tenant: string;
  endpoint: string;
  at: Date;
  status?: number;
  error: string;
}

export interface RelayEndpointStatus {
  tenant: string;
  endpoint: string;
  backlog: number;
  delivered: number;
  failedAttempts: number;
  dead: number;
  refused: number;
}

const DUPLICATE_KEY = 11000;

/**
 * The relay's records (collections `relay_endpoints`, `relay_pending`, `relay_seen`,
 * `relay_attempts`, `relay_outcomes`). Everything but the endpoints is insert-only under
 * deterministic ids, so a repeated write after a crash is a duplicate key, i.e. already done
 * (lookups by a list of ids scan a collection on FerretDB, so the hot path only inserts). A
 * delivered event's outcome is recorded before its pending record is deleted, and `relay_seen`
 * remembers every event taken in, so neither a crash nor a replayed Kafka batch sends it again.
 */
export class MongoRelayStore {
  private readonly endpoints: Collection<RelayEndpointDoc>;
  private readonly pending: Collection<PendingRelay>;
  private readonly attempts: Collection<RelayAttempt>;
  private readonly outcomes: Collection<RelayOutcome>;
  private readonly seen: Collection<{ _id: string }>;

  constructor(db: Db) {
    this.seen = db.collection<{ _id: string }>('relay_seen');
    this.endpoints = db.collection<RelayEndpointDoc>('relay_endpoints');
    this.pending = db.collection<PendingRelay>('relay_pending');
    this.attempts = db.collection<RelayAttempt>('relay_attempts');
    this.outcomes = db.collection<RelayOutcome>('relay_outcomes');
  }

  async init(): Promise<void> {
    await this.endpoints.createIndex({ tenant: 1 });
    await this.pending.createIndex({ partition: 1 });
    await this.attempts.createIndex({ deliveryId: 1 });
    await this.outcomes.createIndex({ tenant: 1, outcome: 1 });
  }

  /** Registers (or replaces) the credentials a tenant uses for an endpoint. */
  async putEndpoint(tenant: string, endpoint: string, credentials: EndpointCredentials): Promise<RelayEndpoint> {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new InvalidInputError(`endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidInputError(`endpoint must be an http(s) URL, got ${url.protocol}`);
    if (!credentials.token && !credentials.secret) throw new InvalidInputError('give a bearer token (from the issuer\'s POST /caliper/consumers), a signing secret, or both');
    const doc: RelayEndpointDoc = { _id: `${tenant} ${endpoint}`, tenant, endpoint, createdAt: new Date(), ...(credentials.token ? { token: credentials.token } : {}), ...(credentials.secret ? { secret: credentials.secret } : {}) };
    await this.endpoints.replaceOne({ _id: doc._id }, doc, { upsert: true });
    return endpointView(doc);
  }

  async removeEndpoint(tenant: string, endpoint: string): Promise<void> {
    const { deletedCount } = await this.endpoints.deleteOne({ _id: `${tenant} ${endpoint}` });
    if (deletedCount === 0) throw new NotFoundError(`tenant ${tenant} relays to no endpoint ${endpoint}`);
  }

  async listEndpoints(tenant?: string): Promise<RelayEndpoint[]> {
    return (await this.endpoints.find(tenant ? { tenant } : {}).sort({ _id: 1 }).toArray()).map(endpointView);
  }

  /** Every registered endpoint with its credentials, by `<tenant> <endpoint>`. */
  async credentials(): Promise<Map<string, EndpointCredentials>> {
    const docs = await this.endpoints.find({}).toArray();
    return new Map(docs.map((d) => [d._id, { ...(d.token ? { token: d.token } : {}), ...(d.secret ? { secret: d.secret } : {}) }]));
  }

  /** Adds pending events; returns the ids that were pending already (left as they are). */
  async addPending(records: readonly PendingRelay[]): Promise<Set<string>> {
    return insertIgnoringDuplicates(this.pending, records);
  }

  /**
   * Remembers that these events were taken in (collection `relay_seen`, insert-only); returns
   * those taken in before. This is what keeps a replayed Kafka batch from relaying an event
   * whose pending record is already gone because it was delivered.
   */
  async markSeen(ids: readonly string[]): Promise<Set<string>> {
    return insertIgnoringDuplicates(this.seen, ids.map((_id) => ({ _id })));
  }

  async pendingOfPartitions(partitions: readonly number[]): Promise<PendingRelay[]> {
    if (partitions.length === 0) return [];
    return this.pending.find({ partition: { $in: [...partitions] } }).toArray();
  }

  async removePending(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.pending.deleteMany({ _id: { $in: [...ids] } });
  }

  async recordAttempts(attempts: readonly RelayAttempt[]): Promise<void> {
    await insertIgnoringDuplicates(this.attempts, attempts);
  }

  async recordOutcomes(outcomes: readonly RelayOutcome[]): Promise<void> {
    await insertIgnoringDuplicates(this.outcomes, outcomes);
  }

  /** Failed attempts so far, by delivery id. */
  async attemptCounts(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.attempts.aggregate<{ _id: string; n: number }>([{ $match: { deliveryId: { $in: [...ids] } } }, { $group: { _id: '$deliveryId', n: { $sum: 1 } } }]).toArray();
    return new Map(rows.map((r) => [r._id, r.n]));
  }

  /** Which of these ids already have an outcome. */
  async withOutcome(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const docs = await findByIds(this.outcomes, ids, { projection: { _id: 1 } });
    return new Set(docs.map((d) => d._id));
  }

  /**
   * Dead letters back to pending, with a fresh budget of attempts (after the endpoint was
   * fixed): the relay instance owning their partition picks them up at its next reload. The
   * pending record is written first, so a crash halfway leaves them dead or pending, never lost.
   * `now` names this requeue: requeuedOutcomes(tenant, now) follows what became of them.
   */
  async requeueDead(tenant: string, endpoint?: string, now = new Date()): Promise<number> {
    const dead = await this.outcomes.find({ tenant, outcome: 'dead', ...(endpoint ? { endpoint } : {}) }).toArray();
    const requeued = dead.filter((d) => d.event !== undefined && d.partition !== undefined);
    if (requeued.length === 0) return 0;
    const ids = requeued.map((d) => d._id);
    // Under a new id: the relay that gave the event up may not yet have deleted its pending record
    // (it deletes finished records in batches), and would otherwise delete the one put back.
    await this.addPending(requeued.map((d) => ({ _id: `${d._id}${requeueSuffix(now)}`, tenant, partition: d.partition!, eventId: d.eventId, endpoint: d.endpoint, event: d.event!, createdAt: now, requeued: true as const })));
    await this.attempts.deleteMany({ deliveryId: { $in: ids } });
    await this.outcomes.deleteMany({ _id: { $in: ids }, outcome: 'dead' });
    return requeued.length;
  }

  /**
   * What became of the dead letters put back by requeueDead(tenant, endpoint, at): how many were
   * delivered, given up again, or refused, so far (the others are still on their way).
   */
  async requeuedOutcomes(tenant: string, at: Date): Promise<Record<RelayOutcomeKind, number>> {
    const suffix = requeueSuffix(at);
    // Outcomes are recorded after the requeue; the margin covers clocks of other hosts running behind.
    const since = new Date(at.getTime() - REQUEUE_CLOCK_MARGIN_MS);
    const docs = await this.outcomes.find({ tenant, at: { $gte: since } }, { projection: { _id: 1, outcome: 1 } }).toArray();
    const counts: Record<RelayOutcomeKind, number> = { delivered: 0, dead: 0, refused: 0 };
    for (const d of docs) if (d._id.endsWith(suffix)) counts[d.outcome]++;
    return counts;
  }

  /** Dead letters, newest first. */
  async deadLetters(options: { tenant?: string; limit: number }): Promise<RelayOutcome[]> {
    return this.outcomes.find({ outcome: 'dead', ...(options.tenant ? { tenant: options.tenant } : {}) }).sort({ at: -1 }).limit(options.limit).toArray();
  }

  /** Per tenant and endpoint: events waiting, delivered, failed attempts, dead letters and refusals. */
  async status(tenant?: string): Promise<RelayEndpointStatus[]> {
    const match = tenant ? [{ $match: { tenant } }] : [];
    const [pending, attempts, outcomes] = await Promise.all([
      this.pending.find(tenant ? { tenant } : {}, { projection: { _id: 1, tenant: 1, endpoint: 1 } }).toArray(),
      this.attempts.aggregate<{ _id: { tenant: string; endpoint: string }; n: number }>([...match, { $group: { _id: { tenant: '$tenant', endpoint: '$endpoint' }, n: { $sum: 1 } } }]).toArray(),
      this.outcomes.aggregate<{ _id: { tenant: string; endpoint: string; outcome: RelayOutcomeKind }; n: number }>([...match, { $group: { _id: { tenant: '$tenant', endpoint: '$endpoint', outcome: '$outcome' }, n: { $sum: 1 } } }]).toArray(),
    ]);
    const rows = new Map<string, RelayEndpointStatus>();
    const row = (t: string, endpoint: string) => {
      const key = `${t} ${endpoint}`;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { tenant: t, endpoint, backlog: 0, delivered: 0, failedAttempts: 0, dead: 0, refused: 0 }));
      return r;
    };
    // Pending records of finished events are deleted in sweeps: those with an outcome are not backlog.
    const finished = await this.withOutcome(pending.map((p) => p._id));
    for (const p of pending) if (!finished.has(p._id)) row(p.tenant, p.endpoint).backlog += 1;
    for (const a of attempts) row(a._id.tenant, a._id.endpoint).failedAttempts += a.n;
    for (const o of outcomes) row(o._id.tenant, o._id.endpoint)[o._id.outcome] += o.n;
    return [...rows.values()].sort((a, b) => (a.tenant === b.tenant ? a.endpoint.localeCompare(b.endpoint) : a.tenant.localeCompare(b.tenant)));
  }
}

const REQUEUE_CLOCK_MARGIN_MS = 10 * 60_000;

/** The end of the id of a dead letter put back at `at` (a new id: see requeueDead). */
function requeueSuffix(at: Date): string {
  return `~requeued-${at.getTime()}`;
}

function endpointView(doc: RelayEndpointDoc): RelayEndpoint {
  return { tenant: doc.tenant, endpoint: doc.endpoint, hasToken: !!doc.token, hasSecret: !!doc.secret, createdAt: doc.createdAt };
}

/** Inserts what is new; returns the ids that were there already (a duplicate key is "already done"). */
async function insertIgnoringDuplicates<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<Set<string>> {
  if (docs.length === 0) return new Set();
  try {
    await collection.insertMany(docs as never[], { ordered: false });
    return new Set();
  } catch (error) {
    const writeErrors = (error as { writeErrors?: { code?: number; index?: number }[] | { code?: number; index?: number } }).writeErrors;
    const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    if (list.length === 0 || list.some((e) => e.code !== DUPLICATE_KEY || e.index === undefined)) throw error;
    return new Set(list.map((e) => docs[e.index!]!._id));
  }
}
