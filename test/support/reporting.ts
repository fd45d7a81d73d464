/** A reporting service on the real stack, in this process, with a database and consumer group of its own. */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { MongoTenantDirectory, TOPICS, connectMongo, frameJson, createKafka, createLogger, createSchemaRegistry, registerValueSchemas } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { loadReportingConfig, startReporting, type RunningReporting } from '@badgestream/reporting';
import { startGroupAt } from './criteria-stream.js';
import { endOffsets } from './ingest.js';
import { produceHistory, type GeneratedEvent } from './reporting-history.js';
import { requireStack, uniqueName, type StackEnv } from './stack.js';

/** The stack's MongoDB URI with another database. */
export function databaseUri(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function eventsSchemaId(stack: StackEnv): Promise<number> {
  const ids = await registerValueSchemas(createSchemaRegistry(stack.schemaRegistryUrl), loadKafkaValueSchemas());
  return ids.get(TOPICS.events)!;
}

export function stackKafka(stack: StackEnv): Kafka {
  return createKafka({ brokers: stack.kafkaBrokers, clientId: 'badgestream-test', logger: createLogger('kafka-test', 'error') });
}

export function startReportingOn(stack: StackEnv, mongodbUri: string, groupId: string, env: Record<string, string> = {}): Promise<RunningReporting> {
  const config = loadReportingConfig({
    KAFKA_BROKERS: stack.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    MONGODB_URI: mongodbUri,
    REPORTING_PORT: '0',
    REPORTING_GROUP_ID: groupId,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...env,
  });
  return startReporting(config);
}

/** One sentinel event per partition, of a tenant of its own, that every consumer counts past: see waitUntilCounted. */
export function sentinels(partitions: Iterable<number>): { partition: number; key: string; headers: Record<string, string>; value: Record<string, unknown> }[] {
  const tenant = `sentinel-${randomUUID()}`;
  return [...partitions].map((partition) => ({
    partition,
    key: `${tenant}|sentinel`,
    headers: { 'badgestream-tenant': tenant },
    value: {
      id: `urn:uuid:${randomUUID()}`,
      type: 'Event',
      actor: 'https://badgestream.test/sentinel',
      action: 'Sentinel',
      object: 'https://badgestream.test/sentinel',
      eventTime: new Date().toISOString(),
    },
  }));
}

/**
 * Waits until the group has committed everything written so far. A sentinel event (of a tenant of
 * its own) is written to every partition first: the end offset of a partition whose last record is
 * a transaction marker is never reached by a consumer's commit, the sentinel's is.
 */
export async function waitUntilCounted(kafka: Kafka, groupId: string, schemaId: number, timeoutMs = 240_000): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const partitions = (await endOffsets(kafka, TOPICS.events)).keys();
  await producer.send({
    topic: TOPICS.events,
    acks: -1,
    messages: sentinels(partitions).map((r) => ({ partition: r.partition, key: r.key, headers: r.headers, value: frameJson(schemaId, r.value) })),
  });
  await producer.disconnect();
  const ends = await endOffsets(kafka, TOPICS.events);
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [TOPICS.events] });
      const behind = (committed?.partitions ?? []).filter((p) => BigInt(p.offset) < BigInt(ends.get(p.partition) ?? '0'));
      if (committed && behind.length === 0) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId} did not catch up in ${timeoutMs} ms: ${JSON.stringify(behind)} behind ${JSON.stringify([...ends])}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.disconnect();
  }
}

export interface Answer {
  status: number;
  contentType: string;
  body: Record<string, unknown> & { rows?: unknown[] };
  text: string;
}

export async function getReport(baseUrl: string, path: string, token: string | undefined, params: Record<string, string> = {}, accept?: string): Promise<Answer> {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`${baseUrl}${path}${query ? `?${query}` : ''}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(accept ? { accept } : {}) } });
  const text = await response.text();
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    // CSV or empty
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body, text };
}

/** Parses CSV as the service writes it (RFC 4180: quoted fields, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

/** A reporting service that has counted a generated history of one tenant, in a database of its own. */
export interface ReportingOverHistory {
  reporting: RunningReporting;
  /** A reader key of the tenant. */
  reader: string;
  close(): Promise<void>;
}

/**
 * Starts reporting on the stack over `events` (and `others`, events of other tenants in the same
 * range), with a database and consumer group of its own, once every event is counted. The tenant
 * is the one of the events; the database is dropped at close.
 */
export async function startReportingOverHistory(name: string, tenant: string, events: readonly GeneratedEvent[], others: readonly GeneratedEvent[] = []): Promise<ReportingOverHistory> {
  const stack = await requireStack();
  const uri = databaseUri(stack.mongodbUri, uniqueName(name));
  const mongo = await connectMongo(uri);
  const directory = new MongoTenantDirectory(mongo.db);
  await directory.init();
  await directory.createTenant(tenant);
  const reader = (await directory.createKey(tenant, 'reader')).token;
  const kafka = stackKafka(stack);
  const schemaId = await eventsSchemaId(stack);
  const groupId = uniqueName(`metrics-${name}`);
  await startGroupAt(kafka, groupId);
  await produceHistory(kafka, schemaId, [...events, ...others]);
  const reporting = await startReportingOn(stack, uri, groupId);
  await waitUntilCounted(kafka, groupId, schemaId);
  return {
    reporting,
    reader,
    async close() {
      await reporting.close();
      await mongo.db.dropDatabase().catch(() => undefined);
      await mongo.close();
    },
  };
}
