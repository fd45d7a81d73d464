import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { BadgestreamError, UnavailableError } from '../errors.js';
import type { TopicSpec } from '../kafka/topics.js';
import type { OutgoingRecord } from '../ports.js';
import { Journal } from './journal.js';

/** A record as the embedded log keeps it: its value as the bytes that were published. */
export interface StoredRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
  timestamp: Date;
}

const JOURNAL = 'events.journal';

interface Pending {
  records: StoredRecord[];
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The embedded mode's event log: Kafka's model (topics of partitions, records ordered by offset
 * within a partition, a key always in the same partition: Kafka's own default partitioner) in
 * one process, journalled to the data directory. A publish is one journal append, so its records
 * are all there after a crash or none are; it resolves (is acknowledged) once the journal is
 * synced to disk, and only then do consumers see its records. Records are kept for good.
 */
export class EmbeddedLog {
  private readonly partitions = new Map<string, StoredRecord[][]>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly queue: Pending[] = [];
  private readonly waiters = new Set<() => void>();
  private writing = false;
  private closed = false;

  private constructor(
    private readonly journal: Journal,
    private readonly beforeSync: () => Promise<void>,
    private readonly fsync: boolean,
  ) {}

  /**
   * Opens the log of a data directory. `beforeSync` makes the documents the records may depend on
   * durable first (the document store's journal), so a machine failure never keeps a record
   * while losing what was written before it.
   */
  static open(directory: string, topics: readonly TopicSpec[], options: { fsync: boolean; beforeSync: () => Promise<void> }): EmbeddedLog {
    const { journal, records } = Journal.open(join(directory, JOURNAL));
    const log = new EmbeddedLog(journal, options.beforeSync, options.fsync);
    for (const spec of topics)
      log.partitions.set(
        spec.topic,
        Array.from({ length: spec.numPartitions }, () => []),
      );
    for (const r of records) {
      const partition = log.partitionsOf(r.t as string)[r.p as number];
      if (!partition)
        throw new BadgestreamError(
          `the event journal holds a record of ${String(r.t)} partition ${String(r.p)}, which this configuration does not have; start with the partition count the data directory was made with`,
          { code: 'EMBEDDED_LAYOUT' },
        );
      partition.push({
        topic: r.t as string,
        partition: r.p as number,
        offset: partition.length,
        key: r.k as string,
        headers: r.h as Record<string, string>,
        value: Buffer.from((r.v as { buffer: Uint8Array }).buffer),
        timestamp: r.ts as Date,
      });
    }
    return log;
  }

  /**
   * Reads the records of a data directory's event journal from a byte position on, with their
   * offsets (`offsets` carries the count per topic-partition from one call to the next). It does
   * not take the directory: `badgestream events tail` reads beside a running process.
   */
  static readJournal(directory: string, from: { byte: number; offsets: Map<string, number> }): { records: StoredRecord[]; byte: number } {
    const { records, next } = Journal.read(join(directory, JOURNAL), from.byte);
    return {
      byte: next,
      records: records.map((r) => {
        const key = `${String(r.t)}|${String(r.p)}`;
        const offset = from.offsets.get(key) ?? 0;
        from.offsets.set(key, offset + 1);
        return {
          topic: r.t as string,
          partition: r.p as number,
          offset,
          key: r.k as string,
          headers: r.h as Record<string, string>,
          value: Buffer.from((r.v as { buffer: Uint8Array }).buffer),
          timestamp: r.ts as Date,
        };
      }),
    };
  }

  private partitionsOf(topic: string): StoredRecord[][] {
    const partitions = this.partitions.get(topic);
    if (!partitions)
      throw new BadgestreamError(`no topic ${topic} in the embedded log`, {
        code: 'UNKNOWN_TOPIC',
      });
    return partitions;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  topics(): string[] {
    return [...this.partitions.keys()];
  }

  partitionCount(topic: string): number {
    return this.partitionsOf(topic).length;
  }

  partitionOf(topic: string, key: string): number {
    const count = this.partitionCount(topic);
    return this.partitioner({
      topic,
      partitionMetadata: Array.from({ length: count }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      })),
      message: { key, value: null },
    });
  }

  /** Appends records atomically; resolves once they are durable and visible to consumers. */
  append(
    records: readonly (Omit<OutgoingRecord, 'value'> & {
      value: Buffer;
      partition?: number;
    })[],
  ): Promise<void> {
    if (this.closed) return Promise.reject(new UnavailableError('event-log', 'the embedded event log is closed'));
    if (records.length === 0) return Promise.resolve();
    const stored = records.map((r) => {
      const partition = r.partition ?? this.partitionOf(r.topic, r.key);
      if (partition < 0 || partition >= this.partitionCount(r.topic)) throw new BadgestreamError(`no partition ${partition} in topic ${r.topic}`, { code: 'UNKNOWN_PARTITION' });
      return {
        topic: r.topic,
        partition,
        offset: -1,
        key: r.key,
        headers: r.headers,
        value: r.value,
        timestamp: new Date(),
      };
    });
    return new Promise((resolve, reject) => {
      this.queue.push({ records: stored, resolve, reject });
      void this.drain();
    });
  }

  /** Group commit: everything queued meanwhile is written and synced together. */
  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          this.journal.append(
            batch.flatMap((p) =>
              p.records.map((r) => ({
                t: r.topic,
                p: r.partition,
                k: r.key,
                h: r.headers,
                v: r.value,
                ts: r.timestamp,
              })),
            ),
          );
          if (this.fsync) {
            await this.beforeSync();
            await this.journal.sync();
          }
        } catch (error) {
          for (const p of batch) p.reject(new UnavailableError('event-log', `cannot write the event journal: ${(error as Error).message}`, error));
          continue;
        }
        for (const p of batch) {
          for (const r of p.records) {
            const partition = this.partitionsOf(r.topic)[r.partition]!;
            r.offset = partition.length;
            partition.push(r);
          }
          p.resolve();
        }
        for (const wake of [...this.waiters]) wake();
      }
    } finally {
      this.writing = false;
    }
  }

  /** Records of a partition from an offset on, at most `max`. */
  read(topic: string, partition: number, from: number, max: number): StoredRecord[] {
    return this.partitionsOf(topic)[partition]!.slice(from, from + max);
  }

  endOffset(topic: string, partition: number): number {
    return this.partitionsOf(topic)[partition]!.length;
  }

  /** Resolves when records are appended (or after `ms`, or at close). */
  waitForAppend(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }

  async close(): Promise<void> {
    while (this.writing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    for (const wake of [...this.waiters]) wake();
    this.journal.close();
  }
}
