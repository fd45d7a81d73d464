import { CALIPER_CONTEXTS } from '@badgestream/caliper';
import {
  BlockedDestinationError,
  Counter,
  Gauge,
  Histogram,
  PollLoop,
  classifyStatus,
  outboundRequest,
  parseRetryAfter,
  retryDelayMs,
  signPayload,
  type DestinationPolicy,
  type EndpointCredentials,
  type Logger,
  type MongoRelayStore,
  type PendingRelay,
  type RelayAttempt,
  type RelayOutcome,
  type Registry,
} from '@badgestream/platform';
import type { BadgeMetadata } from './badge-metadata.js';
import { CircuitBreaker } from './circuit-breaker.js';

export interface DeliveryPolicy {
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxEventsPerEnvelope: number;
  endpointConcurrency: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  pollMs: number;
  endpointsRefreshMs: number;
  /** How often pending records this instance does not hold are looked for (dead letters put back). */
  pendingReloadMs: number;
  sensorId: string;
  destinations: DestinationPolicy;
}

/** One event on its way to an endpoint, as the dispatcher holds it. */
interface Delivery {
  id: string;
  tenant: string;
  partition: number;
  eventId: string;
  event: Record<string, unknown>;
  /** '' until the badge object's metadata could be read. */
  endpoint: string;
  /** Failed attempts so far. */
  attempts: number;
  nextAt: number;
  inFlight: boolean;
  /** Sent on its own next time (its envelope was refused whole: find which event the endpoint refuses). */
  alone: boolean;
  lastError?: string;
}

export interface DispatcherOptions {
  store: MongoRelayStore;
  metadata: BadgeMetadata;
  policy: DeliveryPolicy;
  logger: Logger;
  metrics: Registry;
}

const USER_AGENT = 'Badgestream-Relay/1';
const MAX_ANSWER = 2048;
/** How often the pending records of finished events are deleted. */
const SWEEP_EVERY_MS = 1000;
/** Unresolved badge objects re-read at once, at most. */
const RESOLVE_CONCURRENCY = 8;

/** `<tenant> <endpoint>`: credentials, breakers and queues are per tenant and endpoint. */
export const endpointKey = (tenant: string, endpoint: string) => `${tenant} ${endpoint}`;

/**
 * Delivers pending events of the partitions this instance owns to their endpoints: Caliper
 * envelopes of up to `maxEventsPerEnvelope` events, `endpointConcurrency` in flight per endpoint,
 * retried with exponential backoff and full jitter (or Retry-After), behind a circuit breaker per
 * endpoint, until `maxAttempts` failures make an event a dead letter. An acknowledged event's
 * outcome is recorded before its pending record is removed, and before anything could send it
 * again; a 4xx refusal of a multi-event envelope sends its events one by one to find which the
 * endpoint refuses.
 */
export class RelayDispatcher {
  private readonly deliveries = new Map<string, Delivery>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly inFlightByEndpoint = new Map<string, number>();
  private readonly tasks = new Set<Promise<void>>();
  /** Finished events whose pending records are still to be deleted (see sweep). */
  private readonly finished: string[] = [];
  private sweptAt = 0;
  private reloadedAt = Date.now();
  private owned = new Set<number>();
  private credentials = new Map<string, EndpointCredentials>();
  private credentialsLoadedAt = 0;
  private readonly loop: PollLoop;
  private assignment: Promise<void> = Promise.resolve();
  private readonly events: Counter<'outcome'>;
  private readonly envelopeSeconds: Histogram<'outcome'>;

  constructor(private readonly options: DispatcherOptions) {
    this.loop = new PollLoop(() => this.round(), options.policy.pollMs, (error) => options.logger.warn({ err: error }, 'relay delivery round failed; will retry'));
    const registers = [options.metrics];
    this.events = new Counter({ name: 'badgestream_relay_events_total', help: 'Relayed events by outcome: delivered, retry (a failed attempt), dead, refused', labelNames: ['outcome'], registers });
    this.envelopeSeconds = new Histogram({
      name: 'badgestream_relay_envelope_seconds',
      help: 'Duration of one envelope POST to an endpoint, by outcome',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const deliveries = this.deliveries;
    const breakers = this.breakers;
    new Gauge({
      name: 'badgestream_relay_backlog',
      help: 'Events this instance holds for delivery',
      registers,
      collect() {
        this.set(deliveries.size);
      },
    });
    new Gauge({
      name: 'badgestream_relay_open_breakers',
      help: 'Endpoints whose circuit breaker is open or half-open',
      registers,
      collect() {
        this.set([...breakers.values()].filter((b) => b.state !== 'closed').length);
      },
    });
  }

  /** Whether the tenant registered credentials for the endpoint. */
  async registered(tenant: string, endpoint: string): Promise<boolean> {
    await this.refreshCredentials();
    return this.credentials.has(endpointKey(tenant, endpoint));
  }

  /** Tenants that relay to at least one endpoint (`fresh`: reloaded from MongoDB now). */
  async relayingTenants(fresh = false): Promise<Set<string>> {
    await this.refreshCredentials(fresh);
    return new Set([...this.credentials.keys()].map((k) => k.slice(0, k.indexOf(' '))));
  }

  private async refreshCredentials(force = false): Promise<void> {
    if (!force && Date.now() - this.credentialsLoadedAt < this.options.policy.endpointsRefreshMs) return;
    this.credentials = await this.options.store.credentials();
    this.credentialsLoadedAt = Date.now();
  }

  /**
   * The partitions this instance owns now: pending events of gained partitions are loaded
   * (less those already given an outcome), those of lost ones dropped once not in flight.
   */
  assign(partitions: readonly number[]): void {
    const next = new Set(partitions);
    const gained = [...next].filter((p) => !this.owned.has(p));
    this.owned = next;
    for (const [id, d] of this.deliveries) if (!next.has(d.partition) && !d.inFlight) this.deliveries.delete(id);
    if (gained.length === 0) return;
    this.assignment = this.assignment.then(() => this.load(gained)).catch((error: unknown) => this.options.logger.error({ err: error, partitions: gained }, 'pending relay events could not be loaded; retrying'));
  }

  private async load(partitions: number[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const pending = await this.options.store.pendingOfPartitions(partitions);
        const ids = pending.map((p) => p._id);
        const [done, attempts] = await Promise.all([this.options.store.withOutcome(ids), this.options.store.attemptCounts(ids)]);
        const open = pending.filter((p) => !done.has(p._id));
        await this.options.store.removePending([...done]);
        this.add(open, attempts);
        if (open.length > 0) this.options.logger.info({ partitions, pending: open.length }, 'resuming pending relay events');
        return;
      } catch (error) {
        this.options.logger.warn({ err: error, attempt }, 'loading pending relay events failed; retrying');
        await sleep(Math.min(10_000, 200 * 2 ** attempt));
        if (!this.loop.isRunning) return;
      }
    }
  }

  /** Takes pending events that are durably recorded. */
  add(pending: readonly PendingRelay[], attempts: ReadonlyMap<string, number> = new Map()): void {
    const now = Date.now();
    for (const p of pending) {
      if (this.deliveries.has(p._id) || !this.owned.has(p.partition)) continue;
      this.deliveries.set(p._id, {
        id: p._id,
        tenant: p.tenant,
        partition: p.partition,
        eventId: p.eventId,
        event: JSON.parse(p.event) as Record<string, unknown>,
        endpoint: p.endpoint,
        attempts: attempts.get(p._id) ?? 0,
        nextAt: now,
        inFlight: false,
        alone: false,
      });
    }
    this.nudge();
  }

  start(): void {
    this.loop.start();
  }

  nudge(): void {
    this.loop.nudge();
  }

  /** Stops starting deliveries and waits for those in flight to be sent and recorded. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.assignment;
    await Promise.all(this.tasks);
    await persist(() => this.sweep(), this.options.logger);
  }

  /** Deliveries held, by endpoint ('' while unresolved), for the status of this instance. */
  backlog(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const d of this.deliveries.values()) counts.set(endpointKey(d.tenant, d.endpoint), (counts.get(endpointKey(d.tenant, d.endpoint)) ?? 0) + 1);
    return counts;
  }

  /**
   * One round: starts what is due; now and then deletes the pending records of finished events,
   * and reads pending records this instance does not hold yet (dead letters put back by an
   * operator). The two never run at once, so a record being swept is never taken for new.
   */
  private async round(): Promise<false> {
    await this.refreshCredentials();
    this.startDue();
    if (Date.now() - this.sweptAt >= SWEEP_EVERY_MS) {
      this.sweptAt = Date.now();
      await this.sweep();
    }
    if (Date.now() - this.reloadedAt >= this.options.policy.pendingReloadMs) {
      this.reloadedAt = Date.now();
      await this.reload();
    }
    return false;
  }

  private async reload(): Promise<void> {
    const pending = await this.options.store.pendingOfPartitions([...this.owned]);
    const finished = new Set(this.finished);
    // Only dead letters put back: a record the intake is writing right now may be one it is about to delete again.
    const fresh = pending.filter((p) => p.requeued && !this.deliveries.has(p._id) && !finished.has(p._id));
    if (fresh.length === 0) return;
    this.add(fresh, await this.options.store.attemptCounts(fresh.map((p) => p._id)));
    this.options.logger.info({ pending: fresh.length }, 'picked up pending relay events (dead letters put back)');
  }

  /** Starts every delivery that is due and allowed: re-reading unresolved metadata, and envelopes per endpoint. */
  private startDue(): void {
    const now = Date.now();
    const policy = this.options.policy;
    const byEndpoint = new Map<string, Delivery[]>();
    let resolving = 0;
    for (const d of this.deliveries.values()) {
      if (d.inFlight) {
        if (d.endpoint === '') resolving++;
        continue;
      }
      if (d.nextAt > now || !this.owned.has(d.partition)) continue;
      if (d.endpoint === '') {
        if (resolving < RESOLVE_CONCURRENCY) {
          resolving++;
          this.track(this.resolveAgain(d));
        }
        continue;
      }
      const key = endpointKey(d.tenant, d.endpoint);
      let list = byEndpoint.get(key);
      if (!list) byEndpoint.set(key, (list = []));
      list.push(d);
    }
    for (const [key, due] of byEndpoint) {
      const breaker = this.breakerOf(key);
      let next = 0;
      while (next < due.length && (this.inFlightByEndpoint.get(key) ?? 0) < policy.endpointConcurrency && breaker.tryAcquire()) {
        const batch: Delivery[] = [];
        while (next < due.length && batch.length < policy.maxEventsPerEnvelope) {
          const d = due[next]!;
          if (d.alone && batch.length > 0) break;
          batch.push(d);
          next++;
          if (d.alone) break;
        }
        this.track(this.send(key, breaker, batch));
      }
    }
  }

  private track(task: Promise<void>): void {
    const tracked = task
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'relay delivery failed unexpectedly'))
      .finally(() => {
        this.tasks.delete(tracked);
        this.nudge();
      });
    this.tasks.add(tracked);
  }

  private breakerOf(key: string): CircuitBreaker {
    let breaker = this.breakers.get(key);
    if (!breaker) this.breakers.set(key, (breaker = new CircuitBreaker(this.options.policy.breakerFailures, this.options.policy.breakerCooldownMs)));
    return breaker;
  }

  private async resolveAgain(d: Delivery): Promise<void> {
    d.inFlight = true;
    try {
      const resolution = await this.options.metadata.resolve(d.event.object);
      if (resolution.kind === 'endpoint') {
        const action = d.event.action as string;
        if (!(resolution.endpoint.actions as string[]).includes(action)) return await this.finish([d], 'refused', `${resolution.advertisedBy} does not ask for ${action} reports`, '');
        if (!(await this.registered(d.tenant, resolution.endpoint.endpoint))) return await this.finish([d], 'refused', unregistered(d.tenant, resolution.endpoint.endpoint), resolution.endpoint.endpoint);
        d.endpoint = resolution.endpoint.endpoint;
        d.nextAt = Date.now();
      } else if (resolution.kind === 'retry') {
        await this.failed([d], resolution.reason);
      } else {
        await this.finish([d], 'refused', resolution.reason, resolution.kind === 'refused' ? (resolution.endpoint ?? '') : '');
      }
    } finally {
      d.inFlight = false;
    }
  }

  private async send(key: string, breaker: CircuitBreaker, batch: Delivery[]): Promise<void> {
    for (const d of batch) d.inFlight = true;
    this.inFlightByEndpoint.set(key, (this.inFlightByEndpoint.get(key) ?? 0) + 1);
    const { tenant, endpoint } = batch[0]!;
    const started = performance.now();
    try {
      const credentials = this.credentials.get(key);
      if (!credentials) {
        breaker.release();
        return await this.finish(batch, 'dead', unregistered(tenant, endpoint), endpoint);
      }
      const body = JSON.stringify({ sensor: this.options.policy.sensorId, sendTime: new Date().toISOString(), dataVersion: CALIPER_CONTEXTS.v1p2, data: batch.map((d) => d.event) });
      const timestamp = Math.floor(Date.now() / 1000);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
      if (credentials.token) headers.authorization = `Bearer ${credentials.token}`;
      if (credentials.secret) Object.assign(headers, { 'badgestream-timestamp': String(timestamp), 'badgestream-signature': signPayload(credentials.secret, timestamp, body) });
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      let error: string | undefined;
      let outcome: 'delivered' | 'retry' | 'failed';
      try {
        const answer = await outboundRequest({ method: 'POST', url: endpoint, headers, body, timeoutMs: this.options.policy.timeoutMs, maxBytes: MAX_ANSWER, oversize: 'truncate', destinations: this.options.policy.destinations });
        status = answer.status;
        outcome = classifyStatus(answer.status);
        const header = answer.headers['retry-after'];
        retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header);
        if (outcome !== 'delivered') error = `HTTP ${answer.status}${answer.body.length > 0 ? `: ${answer.body.toString('utf8').slice(0, 300)}` : ''}`;
      } catch (e) {
        outcome = e instanceof BlockedDestinationError ? 'failed' : 'retry';
        error = (e as Error).message || String(e);
      }
      this.envelopeSeconds.observe({ outcome }, (performance.now() - started) / 1000);
      if (outcome === 'delivered') {
        breaker.success();
        await this.finish(batch, 'delivered', undefined, endpoint);
      } else if (outcome === 'retry') {
        breaker.failure();
        await this.failed(batch, error!, status, retryAfterMs);
      } else {
        breaker.release();
        if (batch.length > 1) {
          for (const d of batch) d.alone = true;
          this.options.logger.info({ tenant, endpoint, events: batch.length, error }, 'endpoint refused an envelope; sending its events one by one');
        } else {
          await this.finish(batch, 'dead', error!, endpoint, batch[0]!.attempts + 1);
        }
      }
    } finally {
      this.inFlightByEndpoint.set(key, (this.inFlightByEndpoint.get(key) ?? 1) - 1);
      for (const d of batch) d.inFlight = false;
    }
  }

  /** A failed attempt of each delivery: recorded, then retried later, or a dead letter after the last attempt. */
  private async failed(batch: Delivery[], error: string, status?: number, retryAfterMs?: number): Promise<void> {
    const at = new Date();
    const attempts: RelayAttempt[] = batch.map((d) => ({ _id: `${d.id}#${d.attempts + 1}`, deliveryId: d.id, tenant: d.tenant, endpoint: d.endpoint, at, error, ...(status !== undefined ? { status } : {}) }));
    await persist(() => this.options.store.recordAttempts(attempts), this.options.logger);
    this.events.inc({ outcome: 'retry' }, batch.length);
    const dead: Delivery[] = [];
    for (const d of batch) {
      d.attempts++;
      d.lastError = error;
      if (d.attempts >= this.options.policy.maxAttempts) dead.push(d);
      else d.nextAt = Date.now() + retryDelayMs(d.attempts, { baseMs: this.options.policy.backoffBaseMs, maxMs: this.options.policy.backoffMaxMs }, retryAfterMs);
    }
    if (dead.length > 0) {
      this.options.logger.warn({ tenant: dead[0]!.tenant, endpoint: dead[0]!.endpoint, events: dead.length, error }, `relay gave up after ${this.options.policy.maxAttempts} attempts: dead letters`);
      await this.finish(dead, 'dead', `gave up after ${this.options.policy.maxAttempts} attempts; last error: ${error}`, dead[0]!.endpoint, this.options.policy.maxAttempts);
    }
  }

  /** Records each delivery's outcome, then forgets it (outcome first: nothing acknowledged is sent again). */
  private async finish(batch: Delivery[], outcome: RelayOutcome['outcome'], reason: string | undefined, endpoint: string, attempts?: number): Promise<void> {
    const at = new Date();
    const outcomes: RelayOutcome[] = batch.map((d) => ({
      _id: d.id,
      tenant: d.tenant,
      endpoint,
      eventId: d.eventId,
      outcome,
      attempts: attempts ?? d.attempts + (outcome === 'delivered' ? 1 : 0),
      at,
      ...(reason !== undefined ? { reason } : {}),
      ...(outcome === 'dead' ? { event: JSON.stringify(d.event), partition: d.partition } : {}),
    }));
    await persist(() => this.options.store.recordOutcomes(outcomes), this.options.logger);
    for (const d of batch) {
      this.deliveries.delete(d.id);
      this.finished.push(d.id);
    }
    this.events.inc({ outcome }, batch.length);
  }

  /**
   * Deletes the pending records of finished events, many at a time: a delete by ids scans the
   * collection on FerretDB, so one per envelope would cost as much as the backlog each time. A
   * crash before the sweep leaves records whose outcome is known; loading skips and deletes them.
   */
  private async sweep(): Promise<void> {
    if (this.finished.length === 0) return;
    const ids = this.finished.splice(0, this.finished.length);
    try {
      await this.options.store.removePending(ids);
    } catch (error) {
      this.finished.push(...ids);
      throw error;
    }
  }
}

export function unregistered(tenant: string, endpoint: string): string {
  return `tenant ${tenant} has no credentials for ${endpoint}; register the token the issuer gave you: badgestream relay endpoints add --tenant ${tenant} --endpoint ${endpoint} --token TOKEN`;
}

/** Retries a MongoDB write until it succeeds: an outcome must be recorded before the relay moves on. */
async function persist(write: () => Promise<void>, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      logger.warn({ err: error, attempt }, 'recording a relay outcome failed; retrying');
      await sleep(Math.min(10_000, 100 * 2 ** Math.min(attempt, 7)));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
