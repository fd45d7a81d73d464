import { Counter, TOPICS, type EventLog, type Logger, type MongoOutbox, type OutboxEntry, type Registry } from '@badgestream/platform';
import { BADGESTREAM_AGENT, badgeEventFor } from './badge-events.js';

export interface DispatcherOptions {
  outbox: MongoOutbox;
  eventLog: EventLog;
  logger: Logger;
  metrics: Registry;
  /** How often to look for due entries when the last look found none. */
  pollMs?: number;
  batchSize?: number;
}

/**
 * Delivers outbox entries: publishes each effect's BadgeEvent to caliper.events (keyed by
 * tenant and learner, so it lands in the learner's partition and reporting counts it), then
 * marks the entry done. A crash between the two publishes again: the event id is the
 * effect's deterministic id, so consumers see a duplicate they already ignore.
 */
export class OutboxDispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly delivered: Counter<'kind' | 'outcome'>;

  constructor(private readonly options: DispatcherOptions) {
    this.delivered = new Counter({ name: 'badgestream_outbox_deliveries_total', help: 'Outbox deliveries by effect kind and outcome', labelNames: ['kind', 'outcome'], registers: [options.metrics] });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Looks for due entries now rather than at the next poll. */
  nudge(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.nudge();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let found = 0;
      try {
        found = await this.deliverDue();
      } catch (error) {
        this.options.logger.warn({ err: error }, 'outbox delivery failed; will retry');
      }
      if (found === 0 && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.pollMs ?? 250);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** Delivers what is due; returns how many entries it handled. */
  async deliverDue(): Promise<number> {
    const due = await this.options.outbox.due(this.options.batchSize ?? 200);
    if (due.length === 0) return 0;
    try {
      await this.options.eventLog.publish(due.map(recordOf));
    } catch (error) {
      const retryAt = new Date(Date.now() + 2000);
      for (const entry of due) {
        await this.options.outbox.markFailed(entry._id, (error as Error).message, retryAt);
        this.delivered.inc({ kind: entry.kind, outcome: 'failed' });
      }
      throw error;
    }
    for (const entry of due) {
      await this.options.outbox.markDone(entry._id);
      this.delivered.inc({ kind: entry.kind, outcome: 'delivered' });
    }
    return due.length;
  }
}

function recordOf(entry: OutboxEntry) {
  const event = badgeEventFor(entry.effect);
  return {
    topic: TOPICS.events,
    key: `${entry.tenant}|${entry.learner}`,
    value: event,
    headers: {
      'badgestream-tenant': entry.tenant,
      'badgestream-event-id': event.id as string,
      'caliper-data-version': 'v1p2',
      'caliper-sensor': BADGESTREAM_AGENT.id,
      'badgestream-received-at': new Date().toISOString(),
    },
  };
}
