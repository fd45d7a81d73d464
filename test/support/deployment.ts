/**
 * The services of a test in either mode: on the real stack (Kafka, the schema registry, MongoDB)
 * or embedded (the journalled log and document store in a temporary data directory). A suite
 * written against this runs unchanged in both: `describe.each(MODES)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from 'mongodb';
import { EmbeddedBackend, MongoTenantDirectory, TOPICS, connectMongo, createLogger, frameJson, type Backend, type Scope } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { loadIngestConfig, startIngest, type RunningIngest } from '@badgestream/ingest';
import { endOffsets as kafkaEndOffsets, readFrom as kafkaReadFrom, uniqueName, type DecodedRecord } from './ingest.js';
import { startGroupAt } from './criteria-stream.js';
import { databaseUri, eventsSchemaId, sentinels, stackKafka, waitUntilCounted as kafkaWaitUntilCounted } from './reporting.js';
import { requireStack, type StackEnv } from './stack.js';
import { createSchemaRegistry } from '@badgestream/platform';
import { Partitioners } from 'kafkajs';

export const MODES = ['kafka', 'embedded'] as const;
export type Mode = (typeof MODES)[number];

/** An event as ingest writes it to caliper.events. */
export interface LoggedEvent {
  key: string;
  value: unknown;
  headers: Record<string, string>;
}

export interface Deployment {
  mode: Mode;
  /** The store the services use: the stack's MongoDB (a database of the suite's own when asked) or the embedded one. */
  db: Db;
  /** What startX(config, logger, backend) takes: the embedded backend, or undefined for the configuration's Kafka and MongoDB. */
  backend: Backend | undefined;
  /** The environment a service's configuration is loaded from (merged with the suite's own settings). */
  env(overrides?: Record<string, string>): Record<string, string>;
  endOffsets(topic?: string): Promise<Map<number, string>>;
  readFrom(from: Map<number, string>, done: (records: DecodedRecord[]) => boolean, timeoutMs?: number): Promise<DecodedRecord[]>;
  /** Writes events to caliper.events as ingest writes them (a history, copies of events). */
  produce(events: readonly LoggedEvent[]): Promise<void>;
  /** Sets a new consumer group's position, by default to the end of caliper.events; returns it. */
  startGroupAt(groupId: string, offsets?: Map<number, string>): Promise<Map<number, string>>;
  /** Waits until the group has committed everything written so far (after a sentinel in each partition). */
  waitUntilCounted(groupId: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startDeployment(mode: Mode, options: { database?: string } = {}): Promise<Deployment> {
  return mode === 'kafka' ? kafkaDeployment(await requireStack(), options.database) : embeddedDeployment();
}

async function kafkaDeployment(stack: StackEnv, database: string | undefined): Promise<Deployment> {
  const uri = database ? databaseUri(stack.mongodbUri, database) : stack.mongodbUri;
  const mongo = await connectMongo(uri);
  const kafka = stackKafka(stack);
  const registry = createSchemaRegistry(stack.schemaRegistryUrl);
  const schemaId = await eventsSchemaId(stack);
  return {
    mode: 'kafka',
    db: mongo.db,
    backend: undefined,
    env: (overrides = {}) => ({
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: uri,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...overrides,
    }),
    endOffsets: (topic = TOPICS.events) => kafkaEndOffsets(kafka, topic),
    readFrom: (from, done, timeoutMs) => kafkaReadFrom(kafka, registry, TOPICS.events, from, done, timeoutMs),
    async produce(events) {
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      try {
        for (let i = 0; i < events.length; i += 2000) {
          await producer.send({
            topic: TOPICS.events,
            acks: -1,
            messages: events.slice(i, i + 2000).map((e) => ({
              key: e.key,
              value: frameJson(schemaId, e.value),
              headers: e.headers,
            })),
          });
        }
      } finally {
        await producer.disconnect();
      }
    },
    startGroupAt: (groupId, offsets) => startGroupAt(kafka, groupId, offsets),
    waitUntilCounted: (groupId, timeoutMs) => kafkaWaitUntilCounted(kafka, groupId, schemaId, timeoutMs),
    close: () => mongo.close(),
  };
}

function embeddedDeployment(): Deployment {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'badgestream-embedded-'));
  const backend = EmbeddedBackend.open({
    dataDir,
    fsync: true,
    partitions: 6,
    valueSchemas: loadKafkaValueSchemas(),
  });
  const { log } = backend;
  const db = backend.store.db();
  const offsets = db.collection<{ _id: string; offset: number }>('embedded_consumer_offsets');
  const ends = () => new Map(Array.from({ length: log.partitionCount(TOPICS.events) }, (_, p) => [p, String(log.endOffset(TOPICS.events, p))]));
  const asBytes = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
  return {
    mode: 'embedded',
    db,
    backend,
    env: (overrides = {}) => ({
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...overrides,
    }),
    endOffsets: async () => ends(),
    async readFrom(from, done, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records: DecodedRecord[] = [];
        for (const [partition, offset] of from) {
          for (const r of log.read(TOPICS.events, partition, Number(offset), Number.MAX_SAFE_INTEGER)) {
            records.push({
              topic: r.topic,
              partition,
              offset: String(r.offset),
              key: r.key,
              headers: r.headers,
              value: JSON.parse(r.value.toString('utf8')) as Record<string, unknown>,
            });
          }
        }
        if (done(records) || Date.now() > deadline) return records;
        await log.waitForAppend(200);
      }
    },
    async produce(events) {
      for (let i = 0; i < events.length; i += 2000)
        await log.append(
          events.slice(i, i + 2000).map((e) => ({
            topic: TOPICS.events,
            key: e.key,
            headers: e.headers,
            value: asBytes(e.value),
          })),
        );
    },
    async startGroupAt(groupId, at) {
      const start = at ?? ends();
      for (const [partition, offset] of start) await offsets.updateOne({ _id: `${groupId}|${TOPICS.events}|${partition}` }, { $set: { offset: Number(offset) } }, { upsert: true });
      return start;
    },
    async waitUntilCounted(groupId, timeoutMs = 240_000) {
      await log.append(sentinels(ends().keys()).map((r) => ({ topic: TOPICS.events, partition: r.partition, key: r.key, headers: r.headers, value: asBytes(r.value) })));
      const target = ends();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const behind: string[] = [];
        for (const [partition, end] of target) {
          const committed =
            (
              await offsets.findOne({
                _id: `${groupId}|${TOPICS.events}|${partition}`,
              })
            )?.offset ?? 0;
          if (committed < Number(end)) behind.push(`${partition}: ${committed} of ${end}`);
        }
        if (behind.length === 0) return;
        if (Date.now() > deadline) throw new Error(`group ${groupId} did not catch up in ${timeoutMs} ms: ${behind.join(', ')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async close() {
      await backend.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An ingest service of the deployment, with a tenant of its own and a key of each scope. */
export interface IngestOf {
  ingest: RunningIngest;
  directory: MongoTenantDirectory;
  tenant: string;
  tokens: Record<Scope, string>;
  post(body: unknown, options?: { token?: string | null }): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export async function startIngestOf(deployment: Deployment, overrides: Record<string, string> = {}): Promise<IngestOf> {
  const config = loadIngestConfig(
    deployment.env({
      INGEST_PORT: '0',
      INGEST_INSTANCE_ID: uniqueName('test'),
      ...overrides,
    }),
  );
  const ingest = await startIngest(config, createLogger('ingest-test', config.logLevel), deployment.backend);
  const directory = new MongoTenantDirectory(deployment.db);
  await directory.init();
  const tenant = uniqueName('tenant');
  await directory.createTenant(tenant);
  const tokens = {} as Record<Scope, string>;
  for (const scope of ['sensor', 'consumer', 'reader', 'admin'] as const) tokens[scope] = (await directory.createKey(tenant, scope)).token;
  return {
    ingest,
    directory,
    tenant,
    tokens,
    async post(body, options = {}) {
      const token = options.token === undefined ? tokens.sensor : options.token;
      const response = await fetch(`${ingest.url}/caliper`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text ? (JSON.parse(text) as unknown) : undefined,
      };
    },
    close: () => ingest.close(),
  };
}
