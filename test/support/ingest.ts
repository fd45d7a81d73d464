import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import {
  MongoTenantDirectory,
  connectMongo,
  createKafka,
  createLogger,
  createSchemaRegistry,
  headerStrings,
  type MongoConnection,
  type SchemaRegistry,
  type Scope,
} from '@badgestream/platform';
import { loadIngestConfig, startIngest, type IngestConfig, type RunningIngest } from '@badgestream/ingest';
import { requireStack } from './stack.js';

export const REPO_ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
export const FIXTURES = path.resolve(REPO_ROOT, '../shared/fixtures/caliper');

export function readFixture(relative: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES, relative), 'utf8')) as Record<string, unknown>;
}

export function fixtureFiles(folder: 'v1p2' | 'v1p2-invalid'): string[] {
  return readdirSync(path.join(FIXTURES, folder)).filter((f) => f.endsWith('.json')).sort();
}

export const CALIPER_V1P2 = 'http://purl.imsglobal.org/ctx/caliper/v1p2';

export function envelopeOf(data: unknown[], dataVersion = CALIPER_V1P2): Record<string, unknown> {
  return { sensor: 'https://example.edu/sensors/1', sendTime: new Date().toISOString(), dataVersion, data };
}

/** A fresh UUID-based Caliper event id. */
export function eventId(): string {
  return `urn:uuid:${crypto.randomUUID()}`;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** One ingest service started in this process on the real stack, with a tenant of its own. */
export interface IngestHarness {
  ingest: RunningIngest;
  kafka: Kafka;
  registry: SchemaRegistry;
  mongo: MongoConnection;
  directory: MongoTenantDirectory;
  tenant: string;
  tokens: Record<Scope, string>;
  post(body: unknown, options?: { token?: string | null; contentType?: string; raw?: string | Buffer }): Promise<{ status: number; headers: Headers; body: unknown }>;
  close(): Promise<void>;
}

export async function startIngestHarness(overrides: Record<string, string> = {}): Promise<IngestHarness> {
  const stack = await requireStack();
  const env = {
    ...process.env,
    KAFKA_BROKERS: stack.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    MONGODB_URI: stack.mongodbUri,
    INGEST_PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    INGEST_INSTANCE_ID: uniqueName('test'),
    ...overrides,
  };
  const config: IngestConfig = loadIngestConfig(env);
  const ingest = await startIngest(config, createLogger('ingest-test', config.logLevel));
  const mongo = await connectMongo(config.mongodbUri);
  const directory = new MongoTenantDirectory(mongo.db);
  await directory.init();
  const tenant = uniqueName('tenant');
  await directory.createTenant(tenant);
  const tokens = {} as Record<Scope, string>;
  for (const scope of ['sensor', 'consumer', 'reader', 'admin'] as const) tokens[scope] = (await directory.createKey(tenant, scope)).token;
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'badgestream-test', logger: createLogger('kafka-test', 'error') });
  const registry = createSchemaRegistry(config.schemaRegistryUrl);

  const post: IngestHarness['post'] = async (body, options = {}) => {
    const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
    const token = options.token === undefined ? tokens.sensor : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${ingest.url}/caliper`, { method: 'POST', headers, body: options.raw ?? JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };

  return {
    ingest,
    kafka,
    registry,
    mongo,
    directory,
    tenant,
    tokens,
    post,
    async close() {
      await ingest.close();
      await mongo.close();
    },
  };
}

export interface DecodedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  value: Record<string, unknown>;
}

/** The end offset of every partition of a topic: read from here to see only what comes next. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, o.offset]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads a topic from the given offsets (read_committed), decoding every value through
 * the schema registry, until `done` says enough or the time is up.
 */
export async function readFrom(
  kafka: Kafka,
  registry: SchemaRegistry,
  topic: string,
  from: Map<number, string>,
  done: (records: DecodedRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<DecodedRecord[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('test-reader'), readUncommitted: false });
  const records: DecodedRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: false });
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        records.push({
          topic: t,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? '',
          headers: headerStrings(message.headers),
          value: (await registry.decode(message.value!)) as Record<string, unknown>,
        });
        if (done(records)) finish();
      },
    });
    for (const [partition, offset] of from) consumer.seek({ topic, partition, offset });
    const timer = setTimeout(finish, timeoutMs);
    await finished;
    clearTimeout(timer);
    return records;
  } finally {
    await consumer.disconnect();
  }
}
