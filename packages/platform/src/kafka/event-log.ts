import { hostname } from 'node:os';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { Counter, Histogram, type Registry } from 'prom-client';
import { BadgestreamError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventLog, OutgoingRecord } from '../ports.js';

export interface KafkaEventLogOptions {
  kafka: Kafka;
  /** Registry id of each topic's value schema (see registerValueSchemas). */
  valueSchemaIds: ReadonlyMap<string, number>;
  logger: Logger;
  metrics: Registry;
  /** Producers working in parallel; each writes one batch (transaction) at a time. */
  producers?: number;
  /**
   * Whether a publish is written in a Kafka transaction, all its records visible together or
   * none (default). Without, each publish is one idempotent send (acks=all) per broker: one
   * round trip instead of a transaction's four, for a publisher whose records stand alone and are
   * safe to write again under the same ids after a failure (the criteria outbox).
   */
  atomic?: boolean;
  /**
   * Unique among running instances: producers with the same transactional id fence
   * each other. A stable id (e.g. a StatefulSet pod name) lets a restarted instance
   * abort the open transaction of the one it replaces right away.
   */
  instanceId?: string;
  /** Upper bound of records grouped into one transaction. */
  maxRecordsPerTransaction?: number;
  transactionTimeoutMs?: number;
}

interface PendingPublish {
  messages: Map<string, Message[]>;
  count: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The Kafka adapter of the EventLog port. Every publish is written inside a Kafka
 * transaction by an idempotent producer with acks=all, so an envelope's events become
 * visible to (read_committed) consumers all together or not at all, even when they
 * span partitions and topics. Concurrent publishes are grouped into one transaction
 * (group commit): under load the per-transaction round trips are shared. A log created
 * with `atomic: false` sends instead (see the option).
 */
export class KafkaEventLog implements EventLog {
  private readonly queue: PendingPublish[] = [];
  private readonly idle: ProducerSlot[] = [];
  private readonly slots: ProducerSlot[] = [];
  private readonly maxRecords: number;
  private readonly transactionSeconds: Histogram;
  private readonly transactions: Counter;
  private closed = false;

  constructor(private readonly options: KafkaEventLogOptions) {
    const count = options.producers ?? 2;
    const instanceId = options.instanceId ?? `${hostname()}-${process.pid}`;
    for (let i = 0; i < count; i++) {
      const slot = new ProducerSlot(options.kafka, options.atomic === false ? undefined : `badgestream-${instanceId}-${i}`, options.transactionTimeoutMs ?? 15_000);
      this.slots.push(slot);
      this.idle.push(slot);
    }
    this.maxRecords = options.maxRecordsPerTransaction ?? 5000;
    this.transactionSeconds = new Histogram({
      name: 'badgestream_kafka_produce_seconds',
      help: 'Time to write a batch of records: from the start of its Kafka transaction to the commit (or failure), or its send when not atomic',
      labelNames: ['outcome'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [options.metrics],
    });
    this.transactions = new Counter({
      name: 'badgestream_kafka_transactions_total',
      help: 'Kafka transactions by outcome',
      labelNames: ['outcome'],
      registers: [options.metrics],
    });
  }

  /** Connects every producer (and so initialises its transactional id) up front. */
  async connect(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.producer()));
  }

  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.closed) throw new UnavailableError('kafka', 'the event log is shutting down');
    if (records.length === 0) return;
    const messages = new Map<string, Message[]>();
    for (const record of records) {
      const schemaId = this.options.valueSchemaIds.get(record.topic);
      if (schemaId === undefined) throw new BadgestreamError(`no value schema registered for topic ${record.topic}`, { code: 'NO_SCHEMA' });
      const value = frameJson(schemaId, record.value);
      const list = messages.get(record.topic) ?? [];
      list.push({ key: record.key, value, headers: record.headers });
      messages.set(record.topic, list);
    }
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ messages, count: records.length, resolve, reject });
      this.pump();
    });
  }

  async checkReady(): Promise<void> {
    const admin = this.options.kafka.admin();
    try {
      await admin.connect();
      await admin.describeCluster();
    } catch (error) {
      throw new UnavailableError('kafka', `Kafka is unreachable: ${(error as Error).message}`, error);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.idle.length < this.slots.length) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(this.slots.map((s) => s.disconnect()));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const slot = this.idle.pop()!;
      const batch: PendingPublish[] = [this.queue.shift()!];
      let count = batch[0]!.count;
      while (this.queue.length > 0 && count + this.queue[0]!.count <= this.maxRecords) {
        const next = this.queue.shift()!;
        count += next.count;
        batch.push(next);
      }
      void this.runTransaction(slot, batch, count).finally(() => {
        this.idle.push(slot);
        this.pump();
      });
    }
  }

  private async runTransaction(slot: ProducerSlot, batch: PendingPublish[], count: number): Promise<void> {
    const started = process.hrtime.bigint();
    const topicMessages = mergeByTopic(batch);
    try {
      await slot.write(topicMessages);
      this.observe('committed', started);
      for (const p of batch) p.resolve();
    } catch (error) {
      this.observe('failed', started);
      this.options.logger.warn({ err: error, records: count }, 'Kafka transaction failed; the records were not written');
      const unavailable = new UnavailableError('kafka', `Kafka did not acknowledge the events: ${(error as Error).message}`, error);
      for (const p of batch) p.reject(unavailable);
    }
  }

  private observe(outcome: string, started: bigint): void {
    this.transactionSeconds.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    this.transactions.inc({ outcome });
  }
}

/**
 * The Confluent wire format: magic byte 0, the schema's registry id (int32, big-endian),
 * then the JSON. Values were validated against the full Caliper schemas before they got
 * here, so unlike the registry client's encode() this does not validate them a second time
 * against the (much looser) topic value schema: that cost showed in the ingest profile.
 */
export function frameJson(schemaId: number, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const framed = Buffer.allocUnsafe(5 + json.length);
  framed.writeUInt8(0, 0);
  framed.writeInt32BE(schemaId, 1);
  json.copy(framed, 5);
  return framed;
}

function mergeByTopic(batch: PendingPublish[]): { topic: string; messages: Message[] }[] {
  const merged = new Map<string, Message[]>();
  for (const p of batch) {
    for (const [topic, messages] of p.messages) {
      const list = merged.get(topic);
      if (list) list.push(...messages);
      else merged.set(topic, [...messages]);
    }
  }
  return [...merged].map(([topic, messages]) => ({ topic, messages }));
}

/** One producer (transactional unless it has no transactional id), recreated after a failure so a broken transaction state never sticks. */
class ProducerSlot {
  private current: Promise<Producer> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly transactionalId: string | undefined,
    private readonly transactionTimeoutMs: number,
  ) {}

  producer(): Promise<Producer> {
    if (!this.current) {
      const producer = this.kafka.producer({
        ...(this.transactionalId ? { transactionalId: this.transactionalId } : {}),
        // Java-compatible murmur2: the same key lands on the same partition as with any other client.
        createPartitioner: Partitioners.DefaultPartitioner,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: this.transactionTimeoutMs,
        // Bounded retries: a dead broker must turn into a 503 within seconds, not minutes.
        // A short first backoff matters: a transaction that starts while the previous one's commit
        // markers are still being written gets CONCURRENT_TRANSACTIONS and is retried.
        retry: { retries: 5, initialRetryTime: 10, maxRetryTime: 1000 },
      });
      const connecting = producer.connect().then(() => producer);
      connecting.catch(() => {
        if (this.current === connecting) this.current = undefined;
      });
      this.current = connecting;
    }
    return this.current;
  }

  async write(topicMessages: { topic: string; messages: Message[] }[]): Promise<void> {
    const producer = await this.producer();
    if (!this.transactionalId) {
      try {
        await producer.sendBatch({ topicMessages, acks: -1 });
      } catch (error) {
        await this.reset(producer);
        throw error;
      }
      return;
    }
    let transaction;
    try {
      transaction = await producer.transaction();
      await transaction.sendBatch({ topicMessages, acks: -1 });
      await transaction.commit();
    } catch (error) {
      if (transaction?.isActive()) await transaction.abort().catch(() => undefined);
      await this.reset(producer);
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await (await current.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private async reset(producer: Producer): Promise<void> {
    this.current = undefined;
    await producer.disconnect().catch(() => undefined);
  }
}
