import type { Consumer, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Logger } from '../logger.js';

/** A record as a consumer's domain code sees it: value decoded through the schema registry. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  value: unknown;
  /** The record's value as it was on the topic (framed), kept for the dead-letter topic. */
  raw: Buffer | null;
}

/** A record the handler could not process and that retrying will not fix. */
export interface PoisonedRecord {
  record: ConsumedRecord;
  reason: string;
}

export interface ConsumerRunnerOptions {
  kafka: Kafka;
  registry: SchemaRegistry;
  groupId: string;
  topics: string[];
  /** Where undecodable and poisoned records go, with their reason and origin. */
  deadLetterTopic: string;
  logger: Logger;
  metrics: Registry;
  /**
   * Makes the effects of a batch durable and resolves; only then are the offsets committed.
   * Returns the records it could not process (they go to the dead-letter topic).
   * Throwing means "try again": the batch is retried with backoff, nothing is committed.
   */
  handleBatch: (records: ConsumedRecord[]) => Promise<PoisonedRecord[]>;
  /** Partitions processed at once (kafkajs partitionsConsumedConcurrently). */
  concurrency?: number;
  /**
   * How long the group waits for a member that stopped heartbeating (a killed process) before
   * giving its partitions to the others; the broker's minimum is 6 s by default.
   */
  sessionTimeoutMs?: number;
  /** A fetched batch is handled and committed in slices of at most this many records. */
  maxRecordsPerCommit?: number;
  /**
   * Largest fetch per partition (kafkajs maxBytesPerPartition, default 1 MiB): a consumer that
   * aggregates whole slices in memory fetches more per request, so its slices can be larger.
   */
  maxBytesPerPartition?: number;
  /**
   * Called each time this member joins the group, with its member id and the partitions it was
   * given, by topic: a handler that keeps state per partition drops what it no longer owns (and
   * everything when the member id changed: it was out of the group meanwhile). Called with no
   * partitions and an empty member id when the consumer crashes or stops.
   */
  onAssignment?: (assignment: Assignment) => void;
}

/** The partitions of each topic a member of a consumer group was given. */
export interface Assignment {
  memberId: string;
  partitions: ReadonlyMap<string, readonly number[]>;
}

/** What a member holds when it is out of the group (crashed, stopped). */
export const NO_ASSIGNMENT: Assignment = { memberId: '', partitions: new Map() };

export const DLQ_HEADERS = {
  reason: 'dlq-reason',
  topic: 'dlq-origin-topic',
  partition: 'dlq-origin-partition',
  offset: 'dlq-origin-offset',
  group: 'dlq-consumer-group',
  failedAt: 'dlq-failed-at',
} as const;

/**
 * At-least-once consumption with commit-after-durable: for each batch of a partition the
 * handler makes its effects durable, poisoned records are written to the dead-letter
 * topic, and only then is the batch's last offset committed. A crash anywhere before the
 * commit replays the batch, so handlers must be idempotent (by event id), and a poisoned
 * record may reach the dead-letter topic more than once (replaying it twice is harmless).
 */
export class ConsumerRunner implements LogConsumer {
  private consumer: Consumer;
  private readonly dlqProducer: Producer;
  private stopping = false;
  private readonly applied: Counter<'topic'>;
  private readonly deadLettered: Counter<'topic'>;
  private readonly retries: Counter;
  private readonly lag: Gauge<'topic' | 'partition'>;

  constructor(private readonly options: ConsumerRunnerOptions) {
    this.consumer = this.createConsumer();
    this.dlqProducer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    ({ applied: this.applied, deadLettered: this.deadLettered, retries: this.retries, lag: this.lag } = consumerMetrics(options.metrics));
  }

  private get heartbeatIntervalMs(): number {
    return Math.max(500, Math.floor((this.options.sessionTimeoutMs ?? 10_000) / 5));
  }

  private createConsumer(): Consumer {
    const sessionTimeout = this.options.sessionTimeoutMs ?? 10_000;
    const consumer = this.options.kafka.consumer({
      groupId: this.options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      sessionTimeout,
      heartbeatInterval: this.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(sessionTimeout, 15_000),
      ...(this.options.maxBytesPerPartition ? { maxBytesPerPartition: this.options.maxBytesPerPartition, maxBytes: Math.max(10_485_760, this.options.maxBytesPerPartition * 2) } : {}),
    });
    // kafkajs restarts a consumer after a retriable crash by itself; after any other, this
    // runner starts a fresh one, so a process never stays alive without consuming.
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.options.logger.info({ group: this.options.groupId, memberId: payload.memberId, assignment: payload.memberAssignment }, 'joined the consumer group');
      this.options.onAssignment?.({ memberId: payload.memberId, partitions: new Map(Object.entries(payload.memberAssignment)) });
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.options.onAssignment?.(NO_ASSIGNMENT);
      this.options.logger.error({ err: payload.error, restart: payload.restart, group: this.options.groupId }, 'consumer crashed');
      if (payload.restart || this.stopping) return;
      setTimeout(() => void this.restart(), 1000);
    });
    return consumer;
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    await this.consumer.disconnect().catch(() => undefined);
    this.consumer = this.createConsumer();
    try {
      await this.runConsumer();
      this.options.logger.warn({ group: this.options.groupId }, 'consumer restarted after a crash');
    } catch (error) {
      this.options.logger.error({ err: error }, 'consumer restart failed; trying again');
      setTimeout(() => void this.restart(), 5000);
    }
  }

  async start(): Promise<void> {
    await this.dlqProducer.connect();
    await this.runConsumer();
  }

  private async runConsumer(): Promise<void> {
    await this.consumer.connect();
    for (const topic of this.options.topics) await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.concurrency ?? 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        // Slices keep the work lost to a crash (and redone after it) small, and commit progress
        // even when a fetched batch takes longer than the time between failures.
        const slice = this.options.maxRecordsPerCommit ?? 200;
        for (let start = 0; start < batch.messages.length; start += slice) {
          if (!isRunning() || isStale()) return;
          const messages = batch.messages.slice(start, start + slice);
          const committed = await this.handleSlice(batch.topic, batch.partition, messages, isRunning, isStale, heartbeat);
          if (!committed) return;
          const last = messages[messages.length - 1]!.offset;
          resolveOffset(last);
          this.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)));
          await heartbeat();
        }
      },
    });
  }

  /** Handles one slice of a partition's batch and commits it; false when the consumer stopped or lost the partition first. */
  private async handleSlice(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    isRunning: () => boolean,
    isStale: () => boolean,
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    const decoded: ConsumedRecord[] = [];
    const poisoned: PoisonedRecord[] = [];
    for (const message of messages) {
      const record = await this.decode(topic, partition, message);
      if ('reason' in record) poisoned.push(record);
      else decoded.push(record);
    }
    let attempt = 0;
    for (;;) {
      if (!isRunning() || isStale()) return false;
      // kafkajs heartbeats only when asked: a slice that takes long (a partition taken over, a
      // backfill) keeps the member in the group by heartbeating while it runs.
      const beating = setInterval(() => void heartbeat().catch(() => undefined), this.heartbeatIntervalMs);
      try {
        poisoned.push(...(await this.options.handleBatch(decoded)));
        break;
      } catch (error) {
        attempt++;
        this.retries.inc();
        await sleep(retryDelay(error, { topic, partition, attempt }, this.options.logger));
        await heartbeat();
      } finally {
        clearInterval(beating);
      }
    }
    if (poisoned.length > 0) await this.sendToDeadLetters(poisoned);
    const last = messages[messages.length - 1]!.offset;
    await this.consumer.commitOffsets([{ topic, partition, offset: (BigInt(last) + 1n).toString() }]);
    this.options.logger.debug({ topic, partition, firstOffset: messages[0]!.offset, lastOffset: last, records: messages.length }, 'batch committed');
    this.applied.inc({ topic }, messages.length);
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.consumer.disconnect();
    this.options.onAssignment?.(NO_ASSIGNMENT);
    await this.dlqProducer.disconnect();
  }

  private async decode(topic: string, partition: number, message: KafkaMessage): Promise<ConsumedRecord | PoisonedRecord> {
    const base = { topic, partition, offset: message.offset, key: message.key?.toString() ?? '', headers: headerStrings(message.headers), raw: message.value };
    try {
      if (!message.value) throw new Error('the record has no value');
      return { ...base, value: await this.options.registry.decode(message.value) };
    } catch (error) {
      return { record: { ...base, value: undefined }, reason: `cannot decode the value through the schema registry: ${(error as Error).message}` };
    }
  }

  private async sendToDeadLetters(poisoned: PoisonedRecord[]): Promise<void> {
    const failedAt = new Date();
    await this.dlqProducer.send({
      topic: this.options.deadLetterTopic,
      acks: -1,
      messages: poisoned.map((p) => ({ key: p.record.key, value: p.record.raw, headers: deadLetterHeaders(p, this.options.groupId, failedAt) })),
    });
    reportDeadLetters(poisoned, this.deadLettered, this.options.logger);
  }
}

/** A dead letter's headers: the record's own, and why, where from, by which group and when it failed. */
export function deadLetterHeaders({ record, reason }: PoisonedRecord, groupId: string, failedAt: Date): Record<string, string> {
  return {
    ...record.headers,
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.topic]: record.topic,
    [DLQ_HEADERS.partition]: String(record.partition),
    [DLQ_HEADERS.offset]: record.offset,
    [DLQ_HEADERS.group]: groupId,
    [DLQ_HEADERS.failedAt]: failedAt.toISOString(),
  };
}

export function reportDeadLetters(poisoned: readonly PoisonedRecord[], counter: Counter<'topic'>, logger: Logger): void {
  for (const { record, reason } of poisoned) {
    counter.inc({ topic: record.topic });
    logger.warn({ topic: record.topic, partition: record.partition, offset: record.offset, reason }, 'record sent to the dead-letter topic');
  }
}

/** The metrics of a consumer of the event log, whichever adapter it runs on; consumers of one registry share them. */
export function consumerMetrics(metrics: Registry) {
  const labels = { registers: [metrics] };
  const existing = <T>(name: string, create: () => T): T => (metrics.getSingleMetric(name) as T | undefined) ?? create();
  return {
    applied: existing('badgestream_consumer_records_total', () => new Counter({ name: 'badgestream_consumer_records_total', help: 'Records handled and committed', labelNames: ['topic'], ...labels })),
    deadLettered: existing('badgestream_consumer_dead_letters_total', () => new Counter({ name: 'badgestream_consumer_dead_letters_total', help: 'Records sent to the dead-letter topic', labelNames: ['topic'], ...labels })),
    retries: existing('badgestream_consumer_batch_retries_total', () => new Counter({ name: 'badgestream_consumer_batch_retries_total', help: 'Batches retried after a handler failure', ...labels })),
    lag: existing('badgestream_consumer_lag', () => new Gauge({ name: 'badgestream_consumer_lag', help: 'Records behind the partition end, as of the last batch', labelNames: ['topic', 'partition'], ...labels })),
  };
}

/** Logs a failed batch and says how long to wait before its next attempt (exponential, at most 10 s). */
export function retryDelay(error: unknown, at: { topic: string; partition: number; attempt: number }, logger: Logger): number {
  const delay = Math.min(10_000, 100 * 2 ** Math.min(at.attempt, 7));
  logger.warn({ err: error, ...at, delayMs: delay }, 'batch failed; retrying without committing');
  return delay;
}

/** What the services consume the event log through: the Kafka ConsumerRunner or the embedded consumer. */
export interface LogConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A consumer's options, whichever adapter runs it. */
export type LogConsumerOptions = Omit<ConsumerRunnerOptions, 'kafka' | 'registry' | 'logger' | 'metrics'>;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  return out;
}
