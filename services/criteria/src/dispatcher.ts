import {
  Counter,
  Gauge,
  Histogram,
  PollLoop,
  TOPICS,
  type DeliveryAttempt,
  type EventLog,
  type IssuingMode,
  type Logger,
  type MongoIssuerSettings,
  type MongoOutbox,
  type OutboxEntry,
  type OutgoingRecord,
  type PublishedEntry,
  type Registry,
} from '@badgestream/platform';
import type { CriteriaConfig } from './config.js';
import { BADGESTREAM_AGENT, badgeEventFor, issuedEventFor } from './badge-events.js';
import { postWebhook, retryDelayMs, webhookPayload, type WebhookResult } from './webhook.js';

export interface WebhookPolicy {
  timeoutMs: number;
  /** Attempts before an entry is given up (status failed, kept for an operator). */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Deliveries in flight at once, per dispatcher. */
  concurrency: number;
  allowPrivateAddresses: boolean;
}

export function webhookPolicy(config: CriteriaConfig): WebhookPolicy {
  return {
    timeoutMs: config.webhookTimeoutMs,
    maxAttempts: config.webhookMaxAttempts,
    backoffBaseMs: config.webhookBackoffBaseMs,
    backoffMaxMs: config.webhookBackoffMaxMs,
    concurrency: config.webhookConcurrency,
    allowPrivateAddresses: config.webhookAllowPrivateAddresses,
  };
}

export interface DispatcherOptions {
  outbox: MongoOutbox;
  issuers: MongoIssuerSettings;
  eventLog: EventLog;
  logger: Logger;
  metrics: Registry;
  webhook: WebhookPolicy;
  /** How often to look for due entries when the last look found none. */
  pollMs: number;
  batchSize?: number;
}

/** Kafka outages are retried for as long as they last, but at least this often. */
const MAX_PUBLISH_RETRY_MS = 30_000;
/** How many of the ids it published a dispatcher remembers, so as not to publish them again. */
const PUBLISHED_MEMORY = 50_000;
/** How long a webhook attempt holds its entry beyond its timeout, before another dispatcher may take it. */
const CLAIM_MARGIN_MS = 30_000;

/**
 * Delivers outbox entries in two steps, each recorded on the entry:
 *
 * 1. publishes the effect's BadgeEvent to caliper.events (keyed by tenant and learner, so it
 *    lands in the learner's partition and reporting counts it), with an `Issued` event beside
 *    an award when the tenant issues through Badgestream; one idempotent send per batch. A
 *    crash before the entry is marked publishes again: the event ids are deterministic, so
 *    consumers see duplicates they already ignore.
 * 2. for a tenant issuing by webhook, POSTs the signed award request to the issuer, retrying
 *    transient failures with backoff up to the attempt limit. The step never republishes.
 */
export class OutboxDispatcher {
  private readonly loop: PollLoop;
  /** Webhook attempts in flight, by entry id. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly delivered: Counter<'kind' | 'target' | 'outcome'>;
  private readonly latency: Histogram<'target' | 'outcome'>;
  private readonly recording: Histogram;

  constructor(private readonly options: DispatcherOptions) {
    this.loop = new PollLoop(() => this.deliverDue(), options.pollMs, (error) => options.logger.warn({ err: error }, 'outbox delivery failed; will retry'));
    this.delivered = new Counter({
      name: 'badgestream_outbox_deliveries_total',
      help: 'Outbox delivery attempts by effect kind, target (kafka, webhook) and outcome (delivered, retry, failed, skipped)',
      labelNames: ['kind', 'target', 'outcome'],
      registers: [options.metrics],
    });
    this.latency = new Histogram({
      name: 'badgestream_outbox_delivery_seconds',
      help: 'Duration of an outbox delivery attempt, by target and outcome',
      labelNames: ['target', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [options.metrics],
    });
    this.recording = new Histogram({
      name: 'badgestream_outbox_record_seconds',
      help: 'Time to record in MongoDB that entries were published (done, out of the pending collection): one pass records all that wait',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [options.metrics],
    });
    const outbox = options.outbox;
    new Gauge({
      name: 'badgestream_outbox_failed_entries',
      help: 'Outbox entries given up (status failed) and waiting for an operator: GET /admin/deliveries?status=failed',
      registers: [options.metrics],
      async collect() {
        try {
          this.set(await outbox.countFailed());
        } catch {
          // MongoDB unreachable: /metrics still answers, with the last known value.
        }
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  /**
   * Entries just stored by this process's consumer: published from memory at once, without
   * looking for them in MongoDB (which only catches what other processes left, at each poll).
   */
  offer(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    this.offered.push(...entries);
    this.nudge();
  }

  private offered: OutboxEntry[] = [];
  /**
   * Entries published but not yet recorded as done in MongoDB, by id. They are recorded in the
   * background, all that wait at once, so that publishing never waits for MongoDB: FerretDB's
   * delete scans the pending collection once per call, so a few large calls beat many small
   * ones. A crash before they are recorded publishes them again, under the same event ids.
   */
  private readonly unrecorded = new Map<string, PublishedEntry>();
  private recorder: Promise<void> | undefined;
  private stopping = false;
  /** Ids this dispatcher published, the last PUBLISHED_MEMORY of them. */
  private readonly published = new Set<string>();

  /** Looks for due entries now rather than at the next poll. */
  nudge(): void {
    this.loop.nudge();
  }

  /** Stops looking for entries and waits for the webhook attempts in flight. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.all(this.inFlight.values());
    this.stopping = true;
    await this.recorder;
  }

  /** Publishes what is due and starts the webhook attempts that are due; false when there was nothing it could do. */
  async deliverDue(): Promise<boolean> {
    const batchSize = this.options.batchSize ?? 200;
    const unpublished = this.offered.length > 0 ? this.offered.splice(0, batchSize).filter((e) => !this.published.has(e._id)) : await this.duePublishing(batchSize);
    const ready = unpublished.length > 0 ? await this.publish(unpublished) : [];
    const capacity = this.options.webhook.concurrency - this.inFlight.size;
    let started = 0;
    if (capacity > 0) {
      // Entries in flight here may still look due (their claim is on its way): fetch enough to skip them.
      const candidates = [...ready, ...(await this.options.outbox.dueWebhooks(capacity + this.inFlight.size))];
      for (const entry of candidates) {
        if (this.inFlight.size >= this.options.webhook.concurrency) break;
        if (this.inFlight.has(entry._id)) continue;
        this.startWebhook(entry);
        started++;
      }
    }
    return unpublished.length > 0 || started > 0;
  }

  /**
   * Entries MongoDB holds as due to be published, but for those this dispatcher published already
   * (and may not have recorded yet), and those offered to it meanwhile: each is published once
   * by this process, whichever way it reached it.
   */
  private async duePublishing(limit: number): Promise<OutboxEntry[]> {
    const due = await this.options.outbox.dueToPublish(limit + this.unrecorded.size);
    const offered = new Set(this.offered.map((e) => e._id));
    return due.filter((entry) => !this.published.has(entry._id) && !offered.has(entry._id)).slice(0, limit);
  }

  private remember(entries: readonly OutboxEntry[]): void {
    for (const entry of entries) this.published.add(entry._id);
    // A Set iterates in insertion order: the oldest go first.
    for (const id of this.published) {
      if (this.published.size <= PUBLISHED_MEMORY) break;
      this.published.delete(id);
    }
  }

  /** Records the published entries in the background: one pass at a time, each taking all that wait. */
  private record(): void {
    if (this.recorder || this.unrecorded.size === 0) return;
    this.recorder = (async () => {
      while (this.unrecorded.size > 0) {
        const batch = [...this.unrecorded.values()];
        const recorded = this.recording.startTimer();
        try {
          await this.options.outbox.markPublishedDone(batch);
          recorded();
          for (const published of batch) if (this.unrecorded.get(published.entry._id) === published) this.unrecorded.delete(published.entry._id);
        } catch (error) {
          if (this.stopping) {
            // Left pending in MongoDB: published again after the restart, under the same ids.
            this.options.logger.warn({ err: error, entries: batch.length }, 'could not record published entries before stopping; they will be published again');
            return;
          }
          this.options.logger.warn({ err: error, entries: batch.length }, 'recording published entries failed; will retry');
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })().finally(() => {
      this.recorder = undefined;
      // Entries published while the pass ended (it saw none waiting) get a pass of their own.
      if (!this.stopping) this.record();
    });
  }

  private startWebhook(entry: OutboxEntry): void {
    const task = this.callWebhook(entry)
      .catch((error: unknown) => this.options.logger.warn({ err: error, effectId: entry._id, tenant: entry.tenant }, 'webhook attempt could not be recorded; the entry is due again when its claim expires'))
      .finally(() => {
        this.inFlight.delete(entry._id);
        this.nudge();
      });
    this.inFlight.set(entry._id, task);
  }

  /** Step 1 for a batch; returns the entries whose webhook step is now due. */
  private async publish(entries: OutboxEntry[]): Promise<OutboxEntry[]> {
    const modes = new Map<string, IssuingMode>();
    for (const tenant of new Set(entries.map((e) => e.tenant))) modes.set(tenant, (await this.options.issuers.forDelivery(tenant)).mode);
    const records = entries.flatMap((e) => recordsOf(e, modes.get(e.tenant)!));
    const started = performance.now();
    try {
      await this.options.eventLog.publish(records);
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      for (const entry of entries) {
        const attempt: DeliveryAttempt = { at: new Date(), target: 'kafka', outcome: 'retry', error: (error as Error).message, ms };
        const delay = retryDelayMs(entry.attempts + 1, { baseMs: this.options.webhook.backoffBaseMs, maxMs: Math.min(this.options.webhook.backoffMaxMs, MAX_PUBLISH_RETRY_MS) });
        await this.options.outbox.publishFailed(entry, attempt, new Date(Date.now() + delay));
        this.count(entry, attempt);
      }
      throw error;
    }
    const ms = Math.round(performance.now() - started);
    this.remember(entries);
    const webhooks: OutboxEntry[] = [];
    const attempt: DeliveryAttempt = { at: new Date(), target: 'kafka', outcome: 'delivered', ms };
    for (const entry of entries) {
      const issuing = modes.get(entry.tenant)!;
      this.count(entry, attempt);
      if (issuing !== 'webhook') {
        this.unrecorded.set(entry._id, { entry, issuing, attempt });
        continue;
      }
      const stored = await this.options.outbox.markPublished(entry, { issuing, attempt });
      if (stored?.webhook === 'pending') webhooks.push(stored);
    }
    this.record();
    return webhooks;
  }

  /** Step 2 for one entry: one attempt, if this dispatcher wins the entry. */
  private async callWebhook(due: OutboxEntry): Promise<void> {
    const policy = this.options.webhook;
    const entry = await this.options.outbox.claim(due, new Date(Date.now() + policy.timeoutMs + CLAIM_MARGIN_MS));
    if (!entry) return;
    const log = { effectId: entry._id, tenant: entry.tenant, kind: entry.kind };
    const settings = await this.options.issuers.forDelivery(entry.tenant);
    if (settings.mode !== 'webhook' || !settings.webhookUrl || !settings.secret) {
      const attempt: DeliveryAttempt = { at: new Date(), target: 'webhook', outcome: 'skipped', error: `the tenant's issuing mode is now ${settings.mode}`, ms: 0 };
      await this.options.outbox.recordWebhookAttempt(entry, attempt, { webhook: 'skipped' });
      this.count(entry, attempt);
      this.options.logger.info({ ...log, mode: settings.mode }, 'webhook delivery skipped: the tenant no longer issues by webhook');
      return;
    }
    const attemptNumber = (entry.webhookAttempts ?? 0) + 1;
    const body = JSON.stringify(webhookPayload(entry.effect, badgeEventFor(entry.effect)));
    const result = await postWebhook({ url: settings.webhookUrl, secret: settings.secret, deliveryId: entry._id, body, timeoutMs: policy.timeoutMs, allowPrivateAddresses: policy.allowPrivateAddresses });
    const givingUp = result.outcome === 'failed' || (result.outcome === 'retry' && attemptNumber >= policy.maxAttempts);
    const attempt = attemptOf(result, givingUp);
    const fields = { ...log, attempt: attemptNumber, status: result.status, ms: result.ms, ...(result.error ? { error: result.error } : {}) };
    if (result.outcome === 'delivered') {
      await this.options.outbox.recordWebhookAttempt(entry, attempt, { webhook: 'done' });
      this.options.logger.info(fields, 'webhook delivered');
    } else if (givingUp) {
      await this.options.outbox.recordWebhookAttempt(entry, attempt, { webhook: 'failed' });
      this.options.logger.warn(fields, result.outcome === 'failed' ? 'webhook refused the delivery; entry failed, see GET /admin/deliveries?status=failed' : `webhook delivery gave up after ${attemptNumber} attempts; entry failed`);
    } else {
      const delay = retryDelayMs(attemptNumber, { baseMs: policy.backoffBaseMs, maxMs: policy.backoffMaxMs }, result.retryAfterMs);
      const nextAttemptAt = new Date(Date.now() + delay);
      await this.options.outbox.recordWebhookAttempt(entry, attempt, { webhook: 'pending', nextAttemptAt });
      this.options.logger.info({ ...fields, nextAttemptAt }, 'webhook delivery failed; will retry');
    }
    this.count(entry, attempt);
  }

  private count(entry: OutboxEntry, attempt: DeliveryAttempt): void {
    this.delivered.inc({ kind: entry.kind, target: attempt.target, outcome: attempt.outcome });
    if (attempt.outcome !== 'skipped') this.latency.observe({ target: attempt.target, outcome: attempt.outcome }, attempt.ms / 1000);
  }
}

function attemptOf(result: WebhookResult, givingUp: boolean): DeliveryAttempt {
  return {
    at: new Date(),
    target: 'webhook',
    outcome: result.outcome === 'delivered' ? 'delivered' : givingUp ? 'failed' : 'retry',
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(result.error !== undefined ? { error: result.error } : {}),
    ms: result.ms,
  };
}

/** The Caliper events of an entry: its BadgeEvent, and the `Issued` event of an award when Badgestream issues. */
function recordsOf(entry: OutboxEntry, issuing: IssuingMode): OutgoingRecord[] {
  const events = [badgeEventFor(entry.effect)];
  if (issuing === 'badgestream' && entry.effect.kind === 'award') events.push(issuedEventFor(entry.effect));
  const receivedAt = new Date().toISOString();
  return events.map((event) => ({
    topic: TOPICS.events,
    key: `${entry.tenant}|${entry.learner}`,
    value: event,
    headers: {
      'badgestream-tenant': entry.tenant,
      'badgestream-event-id': event.id as string,
      'caliper-data-version': 'v1p2',
      'caliper-sensor': BADGESTREAM_AGENT.id,
      'badgestream-received-at': receivedAt,
    },
  }));
}
