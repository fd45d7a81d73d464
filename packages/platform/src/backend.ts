import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { connectInfrastructure } from './bootstrap.js';
import { parse, type ConfigOf, type commonOptions } from './config.js';
import { BadgestreamError, ConfigError, UnavailableError } from './errors.js';
import { ConsumerRunner, type LogConsumer, type LogConsumerOptions } from './kafka/consumer.js';
import { KafkaEventLog, type KafkaEventLogOptions } from './kafka/event-log.js';
import type { TopicValueSchema } from './kafka/registry.js';
import { badgestreamTopics, partitionCount, type TopicSpec } from './kafka/topics.js';
import type { Logger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { redactUri } from './mongo/connect.js';
import type { EventLog, OutgoingRecord } from './ports.js';
import { EmbeddedConsumer, OFFSETS_COLLECTION, type OffsetDoc } from './embedded/consumer.js';
import { EmbeddedDocumentStore } from './embedded/document-store.js';
import { EmbeddedLog } from './embedded/event-log.js';

export type Mode = 'kafka' | 'embedded';

/** An event log a service publishes to, connected before its first publish. */
export interface ServiceEventLog extends EventLog {
  connect(): Promise<void>;
}

export type ServiceEventLogOptions = Pick<KafkaEventLogOptions, 'producers' | 'atomic' | 'instanceId'>;

/**
 * What one service runs on, whichever the mode: its metrics registry, the database its
 * repositories use, and the event log to publish to and consume from. The services see this,
 * never a driver; each mode has an adapter (kafkaBackend, EmbeddedBackend).
 */
export interface ServiceInfrastructure {
  readonly mode: Mode;
  readonly metrics: Registry;
  /** MongoDB, or the embedded document store behind the same interface (the subset of ARCHITECTURE.md). */
  readonly db: Db;
  eventLog(options?: ServiceEventLogOptions): ServiceEventLog;
  consumer(options: LogConsumerOptions): LogConsumer;
  partitionCount(topic: string): Promise<number>;
  /** Throws when the store (or the given event log) cannot be reached; `/readyz` shows what it returns. */
  checkReady(eventLog?: EventLog): Promise<Record<string, 'ok'>>;
  /** Where the service's data is, for its start-up log line. */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface Backend {
  readonly mode: Mode;
  connect(service: string, logger: Logger): Promise<ServiceInfrastructure>;
}

/** Kafka, the schema registry and MongoDB, from the service's configuration. */
export function kafkaBackend(config: ConfigOf<typeof commonOptions> & { createTopics: boolean }, valueSchemas: TopicValueSchema[]): Backend {
  return {
    mode: 'kafka',
    async connect(service, logger) {
      const { metrics, kafka, registry, valueSchemaIds, mongo } = await connectInfrastructure({ service, config, logger, valueSchemas });
      return {
        mode: 'kafka',
        metrics,
        db: mongo.db,
        eventLog: (options = {}) =>
          new KafkaEventLog({
            kafka,
            valueSchemaIds,
            logger,
            metrics,
            ...options,
          }),
        consumer: (options) => new ConsumerRunner({ kafka, registry, logger, metrics, ...options }),
        partitionCount: (topic) => partitionCount(kafka, topic),
        checkReady: async (eventLog): Promise<Record<string, 'ok'>> => {
          await Promise.all([mongo.checkReady(), eventLog?.checkReady()]);
          return eventLog ? { kafka: 'ok', mongodb: 'ok' } : { mongodb: 'ok' };
        },
        describe: () => ({
          brokers: config.kafkaBrokers,
          registry: config.schemaRegistryUrl,
          mongodb: redactUri(config.mongodbUri),
        }),
        close: () => mongo.close(),
      };
    },
  };
}

export const embeddedOptions = {
  dataDir: {
    env: 'BADGESTREAM_DATA_DIR',
    description: 'embedded mode: the directory of the journalled event log and document store (created if missing)',
    default: '.badgestream',
    parse: parse.string,
  },
  fsync: {
    env: 'BADGESTREAM_FSYNC',
    description: 'embedded mode: acknowledge a publish only once the journal is synced to disk (false survives a killed process, not a machine failure)',
    default: true,
    parse: parse.boolean,
  },
};

/** Kafka + MongoDB when either is configured in the environment, else the embedded mode. */
export function modeOf(env: NodeJS.ProcessEnv = process.env): Mode {
  const kafka = Boolean(env.KAFKA_BROKERS);
  const mongo = Boolean(env.MONGODB_URI);
  if (kafka !== mongo) {
    throw new ConfigError([
      kafka
        ? 'KAFKA_BROKERS is set but MONGODB_URI is not: the Kafka mode needs both (unset both for the embedded mode)'
        : 'MONGODB_URI is set but KAFKA_BROKERS is not: the Kafka mode needs both (unset both for the embedded mode)',
    ]);
  }
  return kafka ? 'kafka' : 'embedded';
}

/**
 * The embedded mode: every service of the process on one journalled event log and one document
 * store in a data directory, which one process at a time may hold.
 */
export class EmbeddedBackend implements Backend {
  readonly mode = 'embedded';
  private readonly validators = new Map<string, ValidateFunction>();
  private closed = false;

  private constructor(
    readonly directory: string,
    readonly store: EmbeddedDocumentStore,
    readonly log: EmbeddedLog,
  ) {}

  /** `topics` defaults to Badgestream's own (caliper.events with `partitions` partitions, its dead letters, …). */
  static open(options: { dataDir: string; fsync: boolean; partitions: number; valueSchemas: TopicValueSchema[]; topics?: TopicSpec[] }): EmbeddedBackend {
    const directory = resolve(options.dataDir);
    mkdirSync(directory, { recursive: true });
    lockDirectory(directory);
    try {
      const store = EmbeddedDocumentStore.open(directory);
      const log = EmbeddedLog.open(directory, options.topics ?? badgestreamTopics(options.partitions, 1), { fsync: options.fsync, beforeSync: () => store.sync() });
      const backend = new EmbeddedBackend(directory, store, log);
      const ajv = new Ajv2020({ strict: false, allErrors: false });
      for (const { topic, schema } of options.valueSchemas) backend.validators.set(topic, ajv.compile(schema));
      return backend;
    } catch (error) {
      unlockDirectory(directory);
      throw error;
    }
  }

  async connect(service: string, logger: Logger): Promise<ServiceInfrastructure> {
    const metrics = createMetricsRegistry(service);
    const db = this.store.db();
    const offsets = db.collection<OffsetDoc>(OFFSETS_COLLECTION);
    const ready = async () => {
      if (this.closed) throw new UnavailableError('embedded', 'the embedded store is closed');
    };
    return {
      mode: 'embedded',
      metrics,
      db,
      eventLog: () => new EmbeddedEventLog(this.log, ready),
      consumer: (options) =>
        new EmbeddedConsumer(this.log, offsets, this.validators, {
          ...options,
          logger,
          metrics,
        }),
      partitionCount: async (topic) => this.log.partitionCount(topic),
      checkReady: async () => {
        await ready();
        return { embedded: 'ok' };
      },
      describe: () => ({ dataDir: this.directory }),
      // The backend, shared by the services of the process, is closed by its owner.
      close: async () => undefined,
    };
  }

  /** Waits for pending appends, syncs and releases the data directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.log.close();
    this.store.close();
    unlockDirectory(this.directory);
  }
}

/** The EventLog port over the embedded log: values are stored as their JSON text. */
class EmbeddedEventLog implements ServiceEventLog {
  constructor(
    private readonly log: EmbeddedLog,
    private readonly ready: () => Promise<void>,
  ) {}

  async connect(): Promise<void> {}

  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    await this.log.append(
      records.map((r) => ({
        topic: r.topic,
        key: r.key,
        headers: r.headers,
        value: Buffer.from(JSON.stringify(r.value), 'utf8'),
      })),
    );
  }

  checkReady(): Promise<void> {
    return this.ready();
  }

  async close(): Promise<void> {}
}

function lockDirectory(directory: string): void {
  const lock = join(directory, 'LOCK');
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const holder = Number(readFileSync(lock, 'utf8').trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw new BadgestreamError(
      `the data directory ${directory} is in use by process ${holder} (a running 'badgestream start'?): one process at a time may open it; stop that one first, or set BADGESTREAM_DATA_DIR to another directory`,
      { code: 'DATA_DIR_IN_USE' },
    );
  }
  // Left by a process that is gone (killed): take it over.
  writeFileSync(lock, String(process.pid));
}

function unlockDirectory(directory: string): void {
  rmSync(join(directory, 'LOCK'), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
