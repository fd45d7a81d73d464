import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { Registry } from 'prom-client';
import type { ValidateFunction } from 'ajv';
import type { Logger } from '../logger.js';
import {
  NO_ASSIGNMENT,
  deadLetterHeaders,
  reportDeadLetters,
  consumerMetrics,
  retryDelay,
  sleep,
  type ConsumedRecord,
  type LogConsumer,
  type LogConsumerOptions,
  type PoisonedRecord,
} from '../kafka/consumer.js';
import type { EmbeddedLog, StoredRecord } from './event-log.js';

/** A consumer group's committed position in one partition, in the embedded document store. */
export interface OffsetDoc {
  _id: string;
  offset: number;
}

export const OFFSETS_COLLECTION = 'embedded_consumer_offsets';

/**
 * The embedded adapter of a consumer group, with the ConsumerRunner's contract: each slice of a
 * partition is handled, its poisoned records go to the dead-letter topic, and only then is its
 * position committed (in the document store, whose journal keeps it with the handler's writes).
 * The group has one member, this process, which holds every partition.
 */
export class EmbeddedConsumer implements LogConsumer {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private running = 0;
  private readonly turns: (() => void)[] = [];
  private readonly metrics: ReturnType<typeof consumerMetrics>;

  constructor(
    private readonly log: EmbeddedLog,
    private readonly offsets: Collection<OffsetDoc>,
    private readonly validators: ReadonlyMap<string, ValidateFunction>,
    private readonly options: LogConsumerOptions & {
      logger: Logger;
      metrics: Registry;
    },
  ) {
    this.metrics = consumerMetrics(options.metrics);
  }

  async start(): Promise<void> {
    const partitions = new Map(this.options.topics.map((topic) => [topic, Array.from({ length: this.log.partitionCount(topic) }, (_, p) => p)]));
    const memberId = `embedded-${randomUUID()}`;
    this.options.logger.info({ group: this.options.groupId, memberId }, 'joined the consumer group (embedded: every partition)');
    this.options.onAssignment?.({ memberId, partitions });
    for (const [topic, list] of partitions) {
      for (const partition of list) {
        const committed = await this.offsets.findOne({
          _id: this.offsetId(topic, partition),
        });
        this.loops.push(this.consume(topic, partition, committed?.offset ?? 0));
      }
    }
  }

  private offsetId(topic: string, partition: number): string {
    return `${this.options.groupId}|${topic}|${partition}`;
  }

  private async consume(topic: string, partition: number, from: number): Promise<void> {
    let position = from;
    const slice = this.options.maxRecordsPerCommit ?? 200;
    while (!this.stopping && !this.log.isClosed) {
      const records = this.log.read(topic, partition, position, slice);
      if (records.length === 0) {
        await this.log.waitForAppend(1000);
        continue;
      }
      await this.turn();
      try {
        if (!(await this.handleSlice(topic, partition, records))) return;
      } finally {
        this.release();
      }
      position += records.length;
      this.metrics.lag.set({ topic, partition: String(partition) }, this.log.endOffset(topic, partition) - position);
    }
  }

  // At most `concurrency` partitions are handled at once, as with kafkajs.
  private async turn(): Promise<void> {
    if (this.running < (this.options.concurrency ?? 1)) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.turns.push(resolve));
  }

  private release(): void {
    const next = this.turns.shift();
    if (next) next();
    else this.running--;
  }

  private async handleSlice(topic: string, partition: number, records: StoredRecord[]): Promise<boolean> {
    const decoded: ConsumedRecord[] = [];
    const poisoned: PoisonedRecord[] = [];
    for (const r of records) {
      const record: ConsumedRecord = {
        topic,
        partition,
        offset: String(r.offset),
        key: r.key,
        headers: r.headers,
        value: undefined,
        raw: r.value,
      };
      const reason = this.decode(record);
      if (reason) poisoned.push({ record, reason });
      else decoded.push(record);
    }
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return false;
      try {
        poisoned.push(...(await this.options.handleBatch(decoded)));
        break;
      } catch (error) {
        this.metrics.retries.inc();
        await sleep(retryDelay(error, { topic, partition, attempt }, this.options.logger));
      }
    }
    if (poisoned.length > 0) await this.sendToDeadLetters(poisoned);
    const next = records[records.length - 1]!.offset + 1;
    await this.offsets.updateOne({ _id: this.offsetId(topic, partition) }, { $set: { offset: next } }, { upsert: true });
    this.metrics.applied.inc({ topic }, records.length);
    return true;
  }

  /** Sets the record's value; returns why it cannot be, as the schema registry's decoding would. */
  private decode(record: ConsumedRecord): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(record.raw!.toString('utf8'));
    } catch (error) {
      return `cannot decode the value: it is not JSON (${(error as Error).message})`;
    }
    const validate = this.validators.get(record.topic);
    if (validate && !validate(value))
      return `cannot decode the value: it does not match the value schema of ${record.topic}: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ')}`;
    record.value = value;
    return undefined;
  }

  private async sendToDeadLetters(poisoned: PoisonedRecord[]): Promise<void> {
    const failedAt = new Date();
    await this.log.append(
      poisoned.map((p) => ({ topic: this.options.deadLetterTopic, key: p.record.key, value: p.record.raw ?? Buffer.alloc(0), headers: deadLetterHeaders(p, this.options.groupId, failedAt) })),
    );
    reportDeadLetters(poisoned, this.metrics.deadLettered, this.options.logger);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.loops);
    this.options.onAssignment?.(NO_ASSIGNMENT);
  }
}
