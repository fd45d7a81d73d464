import type { Collection, Db } from 'mongodb';
import { Counter, PollLoop, classifyStatus, outboundRequest, parseRetryAfter, retryDelayMs, type BackoffPolicy, type DestinationPolicy, type Logger, type Registry } from '@badgestream/platform';
import type { Fact } from './facts.js';
import type { SliceEntry } from './store.js';
import { statementOf } from './xapi.js';

export interface LrsSettings {
  /** The LRS's xAPI base URL; statements are POSTed to `<endpoint>/statements`. */
  endpoint: string;
  tenant: string;
  authorization: string;
  batch: number;
  timeoutMs: number;
  backoff: BackoffPolicy;
  destinations: DestinationPolicy;
}

interface PushRecord {
  _id: string;
  endpoint: string;
  tenant: string;
  slice: string;
  statements: number;
  at: Date;
}

export interface LrsStatus {
  endpoint: string;
  tenant: string;
  /** Slices, and their statements, recorded as taken by the LRS (by earlier runs too). */
  pushedSlices: number;
  pushedStatements: number;
  lastPushedAt: string | null;
  /** Slices, and their statements, waiting for the LRS (the one in flight included). */
  queuedSlices: number;
  queuedStatements: number;
  /** The slice being pushed: its statements, and how many of them the LRS took so far. */
  inFlight: { slice: string; statements: number; sent: number } | null;
  /**
   * Statements the LRS took, of all the connector was given: the catch-up after a start, or how
   * far behind it is; the total grows as new badge events are counted.
   */
  progress: { done: number; total: number };
  failedAttempts: number;
  lastError: string | null;
}

/**
 * Pushes a tenant's badge events to a learning record store as xAPI statements, slice by slice:
 * each slice's statements in batches, retried with backoff until the LRS takes them, then
 * recorded in `reporting_xapi_pushes` (how far it got). After a restart the slices not recorded
 * are pushed again; statement ids derive from event ids, so a batch sent twice is the same batch.
 */
export class LrsConnector {
  private readonly pushes: Collection<PushRecord>;
  private readonly pushed = new Set<string>();
  private readonly queue: { slice: string; facts: Fact[] }[] = [];
  private readonly loop: PollLoop;
  private pushedStatements = 0;
  private queuedStatements = 0;
  private inFlight: { slice: string; statements: number; sent: number } | null = null;
  private lastPushedAt: Date | null = null;
  private failedAttempts = 0;
  private lastError: string | null = null;
  private readonly statements: Counter<'outcome'>;
  private wakeFromBackoff: (() => void) | undefined;

  constructor(
    db: Db,
    private readonly settings: LrsSettings,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.pushes = db.collection('reporting_xapi_pushes');
    this.loop = new PollLoop(() => this.round(), 500, (error) => logger.error({ err: error }, 'xAPI push failed'));
    this.statements = new Counter({ name: 'badgestream_reporting_xapi_statements_total', help: 'xAPI statements sent to the LRS, by outcome (delivered, retry, failed)', labelNames: ['outcome'], registers: [metrics] });
  }

  /** Reads what was pushed before; call before any slice is offered. */
  async init(): Promise<void> {
    for (const doc of await this.pushes.find({ endpoint: this.settings.endpoint, tenant: this.settings.tenant }).toArray()) {
      this.pushed.add(doc.slice);
      this.pushedStatements += doc.statements;
      if (!this.lastPushedAt || doc.at > this.lastPushedAt) this.lastPushedAt = doc.at;
    }
  }

  /** Queues the tenant's badge events of a counted slice, unless pushed before. */
  offer(entry: SliceEntry, facts: readonly Fact[]): void {
    if (this.pushed.has(entry._id)) return;
    const mine = facts.filter((f) => f.badge && f.tenant === this.settings.tenant);
    if (mine.length === 0) return;
    this.queue.push({ slice: entry._id, facts: mine });
    this.queuedStatements += mine.length;
    this.loop.nudge();
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    const stopping = this.loop.stop();
    this.wakeFromBackoff?.();
    return stopping;
  }

  status(): LrsStatus {
    const sent = this.inFlight?.sent ?? 0;
    return {
      endpoint: this.settings.endpoint,
      tenant: this.settings.tenant,
      pushedSlices: this.pushed.size,
      pushedStatements: this.pushedStatements,
      lastPushedAt: this.lastPushedAt?.toISOString() ?? null,
      queuedSlices: this.queue.length,
      queuedStatements: this.queuedStatements,
      inFlight: this.inFlight && { ...this.inFlight },
      progress: { done: this.pushedStatements + sent, total: this.pushedStatements + this.queuedStatements },
      failedAttempts: this.failedAttempts,
      lastError: this.lastError,
    };
  }

  private async round(): Promise<boolean> {
    const next = this.queue[0];
    if (!next) return false;
    const statements = next.facts.map(statementOf);
    this.inFlight = { slice: next.slice, statements: statements.length, sent: 0 };
    for (let i = 0; i < statements.length; i += this.settings.batch) {
      const batch = statements.slice(i, i + this.settings.batch);
      if (!(await this.send(batch))) return false;
      this.inFlight.sent += batch.length;
    }
    await this.pushes.insertOne({ _id: `${this.settings.endpoint}|${this.settings.tenant}|${next.slice}`, endpoint: this.settings.endpoint, tenant: this.settings.tenant, slice: next.slice, statements: statements.length, at: new Date() });
    this.queue.shift();
    this.pushed.add(next.slice);
    this.pushedStatements += statements.length;
    this.queuedStatements -= statements.length;
    this.inFlight = null;
    this.lastPushedAt = new Date();
    return true;
  }

  /** One batch, retried with backoff while the LRS answers with a retriable failure; false when the loop is stopping. */
  private async send(batch: Record<string, unknown>[]): Promise<boolean> {
    const body = JSON.stringify(batch);
    for (let attempt = 1; this.loop.isRunning; attempt++) {
      let retryAfter: number | undefined;
      try {
        const answer = await outboundRequest({
          method: 'POST',
          url: `${this.settings.endpoint}/statements`,
          headers: { 'content-type': 'application/json', 'x-experience-api-version': '1.0.3', ...(this.settings.authorization ? { authorization: this.settings.authorization } : {}) },
          body,
          timeoutMs: this.settings.timeoutMs,
          maxBytes: 64 * 1024,
          oversize: 'truncate',
          destinations: this.settings.destinations,
        });
        const outcome = classifyStatus(answer.status);
        this.statements.inc({ outcome }, batch.length);
        if (outcome === 'delivered') {
          this.lastError = null;
          return true;
        }
        this.lastError = `the LRS answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`;
        retryAfter = parseRetryAfter(answer.headers['retry-after'] as string | undefined);
      } catch (error) {
        this.statements.inc({ outcome: 'retry' }, batch.length);
        this.lastError = (error as Error).message;
      }
      this.failedAttempts++;
      // A 4xx will not get better by itself, but an operator can fix the LRS or its credentials:
      // keep trying, at the longest backoff, rather than skip statements.
      const delay = retryDelayMs(attempt, this.settings.backoff, retryAfter);
      this.logger.warn({ attempt, delayMs: delay, reason: this.lastError }, 'xAPI batch not taken by the LRS; retrying');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeFromBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeFromBackoff = undefined;
    }
    return false;
  }
}
