import { reportedObjectIris } from '@badgestream/caliper';
import { BADGE_EVENT_TYPE, CONSUMER_ACTIONS } from '@badgestream/profile-open-badges';
import { Counter, type ConsumedRecord, type Logger, type MongoHostedBadgeObjects, type MongoRelayStore, type PendingRelay, type PoisonedRecord, type RelayOutcome, type Registry } from '@badgestream/platform';
import type { BadgeMetadata, Resolution } from './badge-metadata.js';
import { unregistered, type RelayDispatcher } from './deliveries.js';

/** Record headers the relay reads (written by ingest). */
const TENANT_HEADER = 'badgestream-tenant';
const REPORT_HEADER = 'badgestream-report';

/** A consumer-side badge event a tenant's sensors posted, which the relay may forward. */
export interface RelayCandidate {
  tenant: string;
  partition: number;
  eventId: string;
  action: string;
  event: Record<string, unknown>;
}

/**
 * Whether a record is one to forward: a BadgeEvent of a consumer action (Verified, Shared,
 * Endorsed, Accessed, Accepted) posted by a sensor of a tenant that relays. Reports received
 * from consumers (the badgestream-report header) are the issuer's own copies: never forwarded.
 */
export function relayCandidate(record: ConsumedRecord, relayingTenants?: ReadonlySet<string>): RelayCandidate | undefined {
  const tenant = record.headers[TENANT_HEADER];
  if (!tenant || record.headers[REPORT_HEADER] || (relayingTenants && !relayingTenants.has(tenant))) return undefined;
  const event = record.value as Record<string, unknown> | undefined;
  if (!event || typeof event !== 'object' || event.type !== BADGE_EVENT_TYPE || typeof event.id !== 'string') return undefined;
  const action = event.action;
  if (typeof action !== 'string' || !(CONSUMER_ACTIONS as readonly string[]).includes(action)) return undefined;
  return { tenant, partition: record.partition, eventId: event.id, action, event };
}

export interface IntakeOptions {
  store: MongoRelayStore;
  hosted: MongoHostedBadgeObjects;
  metadata: BadgeMetadata;
  dispatcher: RelayDispatcher;
  logger: Logger;
  metrics: Registry;
  /** How long "tenant T hosts IRI X" (or not) is remembered. */
  ownCacheTtlMs: number;
}

/**
 * The relay's consumer handler: for each candidate of a batch, reads what its badge object
 * advertises and records it, before the offsets are committed, as pending (to deliver), or as
 * refused (an endpoint that cannot be used, with why). Events about a tenant's own hosted
 * badges, and actions the issuer does not ask for, are not relayed.
 */
export class RelayIntake {
  private readonly seen: Counter<'decision'>;
  private readonly ownCache: OwnBadgeCache;

  constructor(private readonly options: IntakeOptions) {
    this.ownCache = new OwnBadgeCache(options.ownCacheTtlMs);
    this.seen = new Counter({ name: 'badgestream_relay_intake_total', help: 'Candidate events by decision: pending, refused, own (a badge the tenant hosts), none (nothing advertised), unwanted (action not asked for)', labelNames: ['decision'], registers: [options.metrics] });
  }

  async handleBatch(records: readonly ConsumedRecord[]): Promise<PoisonedRecord[]> {
    const badgeEvents = records.map((r) => relayCandidate(r)).filter((c): c is RelayCandidate => c !== undefined);
    if (badgeEvents.length === 0) return [];
    // Registered endpoints as they are now: an endpoint registered a moment ago must not be refused.
    const relaying = await this.options.dispatcher.relayingTenants(true);
    const candidates = badgeEvents.filter((c) => relaying.has(c.tenant));
    if (candidates.length === 0) return [];
    const fresh = await this.withoutOwnBadges(candidates);
    const resolutions = await Promise.all(fresh.map((c) => this.options.metadata.resolve(c.event.object)));
    const pending: PendingRelay[] = [];
    const refused: RelayOutcome[] = [];
    const now = new Date();
    for (let i = 0; i < fresh.length; i++) {
      const c = fresh[i]!;
      const decision = await this.decide(c, resolutions[i]!);
      this.seen.inc({ decision: decision.kind });
      const id = deliveryId(c);
      if (decision.kind === 'pending') pending.push({ _id: id, tenant: c.tenant, partition: c.partition, eventId: c.eventId, endpoint: decision.endpoint, event: JSON.stringify(c.event), createdAt: now });
      else if (decision.kind === 'refused') refused.push({ _id: id, tenant: c.tenant, endpoint: decision.endpoint, eventId: c.eventId, outcome: 'refused', reason: decision.reason, attempts: 0, at: now });
    }
    if (refused.length > 0) {
      await this.options.store.recordOutcomes(refused);
      for (const r of refused) this.options.logger.warn({ tenant: r.tenant, eventId: r.eventId, endpoint: r.endpoint, reason: r.reason }, 'event not relayed');
    }
    // Pending first, then seen: an event seen before whose pending record could be inserted again
    // was delivered (or given up) already, so that record goes; one still pending is the
    // dispatcher's (held, or loaded when its partition was assigned).
    const alreadyPending = await this.options.store.addPending(pending);
    const seenBefore = await this.options.store.markSeen(pending.map((p) => p._id));
    const finished = pending.filter((p) => seenBefore.has(p._id) && !alreadyPending.has(p._id)).map((p) => p._id);
    await this.options.store.removePending(finished);
    this.options.dispatcher.add(pending.filter((p) => !seenBefore.has(p._id) && !alreadyPending.has(p._id)));
    return [];
  }

  private async decide(c: RelayCandidate, resolution: Resolution): Promise<{ kind: 'pending'; endpoint: string } | { kind: 'refused'; endpoint: string; reason: string } | { kind: 'none' | 'unwanted' }> {
    switch (resolution.kind) {
      case 'endpoint': {
        const { endpoint, actions } = resolution.endpoint;
        if (!(actions as string[]).includes(c.action)) return { kind: 'unwanted' };
        if (!(await this.options.dispatcher.registered(c.tenant, endpoint))) return { kind: 'refused', endpoint, reason: unregistered(c.tenant, endpoint) };
        return { kind: 'pending', endpoint };
      }
      case 'retry':
        // The badge host may come back: the dispatcher reads the metadata again, with backoff.
        return { kind: 'pending', endpoint: '' };
      case 'refused':
        return { kind: 'refused', endpoint: resolution.endpoint ?? '', reason: resolution.reason };
      case 'none':
        return { kind: 'none' };
    }
  }

  /** Drops events about badge objects the event's own tenant hosts: the tenant is their issuer. */
  private async withoutOwnBadges(candidates: RelayCandidate[]): Promise<RelayCandidate[]> {
    const iris = candidates.map((c) => reportedObjectIris(c.event.object));
    const unknown = new Map<string, Set<string>>();
    candidates.forEach((c, i) => {
      for (const iri of iris[i]!) if (this.ownCache.get(c.tenant, iri) === undefined) (unknown.get(c.tenant) ?? unknown.set(c.tenant, new Set()).get(c.tenant)!).add(iri);
    });
    for (const [tenant, ofTenant] of unknown) {
      const hosted = await this.options.hosted.hostedBy(tenant, [...ofTenant]);
      for (const iri of ofTenant) this.ownCache.set(tenant, iri, hosted.has(iri));
    }
    return candidates.filter((c, i) => {
      const own = iris[i]!.some((iri) => this.ownCache.get(c.tenant, iri) === true);
      if (own) this.seen.inc({ decision: 'own' });
      return !own;
    });
  }
}

/** `<tenant>|<event id>`: one delivery per event and tenant, whatever the replays. */
export function deliveryId(c: { tenant: string; eventId: string }): string {
  return `${c.tenant}|${c.eventId}`;
}

/** Whether a tenant hosts a badge object IRI, remembered for a while (lookups by IRI list scan on FerretDB). */
class OwnBadgeCache {
  private readonly entries = new Map<string, { own: boolean; expires: number }>();
  private static readonly MAX_ENTRIES = 100_000;

  constructor(private readonly ttlMs: number) {}

  get(tenant: string, iri: string): boolean | undefined {
    const hit = this.entries.get(`${tenant} ${iri}`);
    return hit && hit.expires > Date.now() ? hit.own : undefined;
  }

  set(tenant: string, iri: string, own: boolean): void {
    if (this.entries.size >= OwnBadgeCache.MAX_ENTRIES) this.entries.clear();
    this.entries.set(`${tenant} ${iri}`, { own, expires: Date.now() + this.ttlMs });
  }
}
