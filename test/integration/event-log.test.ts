/**
 * The event log port's contract, run against both adapters: Kafka with the schema registry
 * (KafkaEventLog, ConsumerRunner) and the embedded log (EmbeddedLog, EmbeddedConsumer), each
 * reached through what the services see (ServiceInfrastructure).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DLQ_HEADERS,
  EmbeddedBackend,
  replayDeadLetters,
  replayEmbeddedDeadLetters,
  NO_ASSIGNMENT,
  createKafka,
  createLogger,
  kafkaBackend,
  loadConfig,
  commonOptions,
  type Assignment,
  type ConsumedRecord,
  type PoisonedRecord,
  type ServiceEventLog,
  type ServiceInfrastructure,
} from '@badgestream/platform';
import { requireStack } from '../support/stack.js';
import { uniqueName } from '../support/ingest.js';

const MODES = ['kafka', 'embedded'] as const;
const logger = createLogger('event-log-test', process.env.LOG_LEVEL ?? 'silent');
const schema = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', required: ['id'] };

/** A raw record on a topic and the records of a topic as they are, for what the port does not offer. */
interface Raw {
  appendUndecodable(topic: string, bytes: Buffer): Promise<void>;
  /** `badgestream dlq replay` of the adapter (the embedded one on a data directory no process runs on). */
  replay(options: { deadLetterTopic: string; groupId: string; reasonContains?: string; dryRun?: boolean }): Promise<{ replayed: number; skipped: number }>;
  readAll(topic: string, expected: number): Promise<{ headers: Record<string, string>; value: Buffer }[]>;
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(MODES)('the event log port (%s)', (mode) => {
  const topic = uniqueName('contract.events');
  const dlq = `${topic}.dlq`;
  let infrastructure: ServiceInfrastructure;
  let log: ServiceEventLog;
  let raw: Raw;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const topics = [
      { topic, numPartitions: 3, replicationFactor: 1 },
      { topic: dlq, numPartitions: 1, replicationFactor: 1 },
    ];
    const valueSchemas = [{ topic, schema }];
    if (mode === 'kafka') {
      const stack = await requireStack();
      const kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: 'event-log-test', logger });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: topics.map(({ topic: t, numPartitions }) => ({ topic: t, numPartitions })), waitForLeaders: true });
      await admin.disconnect();
      const config = {
        ...loadConfig(commonOptions, { KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri }),
        createTopics: false,
      };
      infrastructure = await kafkaBackend(config, valueSchemas).connect('event-log-test', logger);
      raw = {
        async appendUndecodable(t, bytes) {
          const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
          await producer.connect();
          await producer.send({ topic: t, acks: -1, messages: [{ key: 'k-raw', value: bytes, headers: { 'badgestream-tenant': 't1' } }] });
          await producer.disconnect();
        },
        replay: (options) => replayDeadLetters({ kafka, idleMs: 3000, ...options }),
        async readAll(t, expected) {
          const consumer = kafka.consumer({ groupId: uniqueName('reader') });
          const out: { headers: Record<string, string>; value: Buffer }[] = [];
          await consumer.connect();
          await consumer.subscribe({ topic: t, fromBeginning: true });
          await consumer.run({
            eachMessage: async ({ message }) => void out.push({ headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])), value: message.value! }),
          });
          await until(() => out.length >= expected, `${expected} records on ${t}`).finally(() => consumer.disconnect());
          return out;
        },
      };
      close = async () => {
        await infrastructure.close();
        const cleanup = kafka.admin();
        await cleanup.connect();
        await cleanup.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
        await cleanup.disconnect();
      };
    } else {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'badgestream-log-'));
      const backend = EmbeddedBackend.open({ dataDir, fsync: true, partitions: 3, valueSchemas, topics });
      infrastructure = await backend.connect('event-log-test', logger);
      raw = {
        appendUndecodable: (t, bytes) => backend.log.append([{ topic: t, key: 'k-raw', headers: { 'badgestream-tenant': 't1' }, value: bytes }]),
        replay: (options) => replayEmbeddedDeadLetters(backend, options),
        async readAll(t, expected) {
          const read = () => Array.from({ length: backend.log.partitionCount(t) }, (_, p) => backend.log.read(t, p, 0, Number.MAX_SAFE_INTEGER)).flat();
          await until(() => read().length >= expected, `${expected} records on ${t}`);
          return read().map((r) => ({ headers: r.headers, value: r.value }));
        },
      };
      close = async () => {
        await backend.close();
        rmSync(dataDir, { recursive: true, force: true });
      };
    }

    log = infrastructure.eventLog();
    await log.connect();
  }, 60_000);

  afterAll(async () => {
    await log?.close();
    await close?.();
  });

  const publish = (values: { id: string; key: string }[]) => log.publish(values.map((v) => ({ topic, key: v.key, value: { id: v.id }, headers: { 'badgestream-tenant': 't1' } })));

  function consumer(groupId: string, handleBatch: (records: ConsumedRecord[]) => Promise<PoisonedRecord[]>, assignments: Assignment[] = []) {
    return infrastructure.consumer({ groupId, topics: [topic], deadLetterTopic: dlq, handleBatch, onAssignment: (a) => assignments.push(a), maxRecordsPerCommit: 2 });
  }

  it('has the partitions the topic was made with', async () => {
    expect(await infrastructure.partitionCount(topic)).toBe(3);
  });

  it('delivers what was published, each key in order; a publish naming a topic without a schema or partitions writes none of its records', async () => {
    const published = Array.from({ length: 12 }, (_, i) => ({ id: `e${i}`, key: `k${i % 3}` }));
    await expect(
      log.publish([
        { topic, key: 'k0', value: { id: 'lost' }, headers: {} },
        { topic: uniqueName('nowhere'), key: 'k0', value: { id: 'lost-too' }, headers: {} },
      ]),
    ).rejects.toThrow();
    await publish(published);
    const seen: { id: string; key: string }[] = [];
    const assignments: Assignment[] = [];
    const reader = consumer(
      uniqueName('order'),
      async (records) => {
        for (const r of records) seen.push({ id: (r.value as { id: string }).id, key: r.key });
        return [];
      },
      assignments,
    );
    await reader.start();
    await until(() => seen.length >= 12, 'the 12 published records');
    await new Promise((r) => setTimeout(r, 300));
    await reader.stop();
    expect(seen.map((s) => s.id).sort()).toEqual(published.map((p) => p.id).sort());
    for (const key of ['k0', 'k1', 'k2']) expect(seen.filter((s) => s.key === key).map((s) => s.id)).toEqual(published.filter((p) => p.key === key).map((p) => p.id));
    expect(seen.some((s) => s.id.startsWith('lost'))).toBe(false);
    // The one member of the group holds every partition, and none once stopped.
    expect([...(assignments.find((a) => a.memberId)?.partitions.get(topic) ?? [])].sort()).toEqual([0, 1, 2]);
    expect(assignments.at(-1)).toEqual(NO_ASSIGNMENT);
  });

  it('commits only after the handler succeeds, retries failures, dead-letters what cannot be decoded or processed, and a restarted member sees only what is new', async () => {
    const group = uniqueName('commit');
    // The group starts after what the other tests published.
    const before: string[] = [];
    const skip = consumer(group, async (records) => {
      for (const r of records) before.push(r.offset);
      return [];
    });
    await skip.start();
    await until(() => before.length >= 12, 'the earlier records');
    await new Promise((r) => setTimeout(r, 500));
    await skip.stop();

    await publish([
      { id: 'a', key: 'x' },
      { id: 'poison', key: 'x' },
      { id: 'b', key: 'y' },
    ]);
    await raw.appendUndecodable(topic, Buffer.from('not JSON at all'));
    const handled = new Set<string>();
    let calls = 0;
    const first = consumer(group, async (records) => {
      // The first call fails as if the store were down: nothing may be committed.
      if (calls++ === 0) throw new Error('store unavailable');
      const poisoned: PoisonedRecord[] = [];
      for (const r of records) {
        const id = (r.value as { id: string }).id;
        if (id === 'poison') poisoned.push({ record: r, reason: 'cannot be evaluated: example' });
        else handled.add(id);
      }
      return poisoned;
    });
    await first.start();
    await until(() => handled.size === 2, 'a and b handled');
    await new Promise((r) => setTimeout(r, 1000));
    await first.stop();
    expect([...handled].sort()).toEqual(['a', 'b']);
    expect(calls).toBeGreaterThan(1);

    const deadLetters = (await raw.readAll(dlq, 2)).filter((d) => d.headers[DLQ_HEADERS.group] === group);
    const reasons = [...new Set(deadLetters.map((d) => d.headers[DLQ_HEADERS.reason]))].sort();
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toBe('cannot be evaluated: example');
    expect(reasons[1]).toMatch(/^cannot decode the value/);
    for (const d of deadLetters) expect(d.headers).toMatchObject({ [DLQ_HEADERS.topic]: topic, 'badgestream-tenant': 't1' });
    // The dead letter keeps the original bytes, so a fixed record can be replayed as it was.
    expect(deadLetters.some((d) => d.value.toString() === 'not JSON at all')).toBe(true);

    const again: string[] = [];
    const second = consumer(group, async (records) => {
      for (const r of records) again.push((r.value as { id: string }).id);
      return [];
    });
    await second.start();
    await publish([{ id: 'c', key: 'x' }]);
    await until(() => again.includes('c'), 'c handled');
    await second.stop();
    expect(again).toEqual(['c']);
  });
  it('puts fixed dead letters back on their topic once, byte for byte; a dry run changes nothing', async () => {
    const group = uniqueName('replay');
    const dry = await raw.replay({ deadLetterTopic: dlq, groupId: group, dryRun: true });
    expect(dry.replayed).toBeGreaterThanOrEqual(2);
    const seen: string[] = [];
    const reader = consumer(uniqueName('after-replay'), async (records) => {
      for (const r of records) seen.push((r.value as { id: string }).id);
      return [];
    });
    await reader.start();
    // Every record published before: 12, then a, poison, b and c (the undecodable one is dead-lettered).
    await until(() => seen.length >= 16, 'the records before the replay');
    const before = seen.length;
    // Only the record the handler refused: the undecodable one would be dead-lettered again.
    const done = await raw.replay({ deadLetterTopic: dlq, groupId: group, reasonContains: 'cannot be evaluated' });
    expect(done.replayed).toBeGreaterThanOrEqual(1);
    await until(() => seen.length >= before + done.replayed, 'the replayed records');
    await new Promise((r) => setTimeout(r, 500));
    await reader.stop();
    expect(new Set(seen.slice(before))).toEqual(new Set(['poison']));
    // The same replay group has nothing left.
    expect(await raw.replay({ deadLetterTopic: dlq, groupId: group })).toEqual({ replayed: 0, skipped: 0 });
  });
});
