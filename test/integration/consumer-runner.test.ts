import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import {
  ConsumerRunner,
  DLQ_HEADERS,
  replayDeadLetters,
  createKafka,
  createLogger,
  createMetricsRegistry,
  createSchemaRegistry,
  frameJson,
  registerValueSchemas,
  type ConsumedRecord,
  type PoisonedRecord,
  type SchemaRegistry,
} from '@badgestream/platform';
import { requireStack } from '../support/stack.js';
import { uniqueName } from '../support/ingest.js';

let kafka: Kafka;
let registry: SchemaRegistry;
let topic: string;
let dlq: string;
let schemaId: number;
const logger = createLogger('consumer-test', process.env.LOG_LEVEL ?? 'silent');

beforeAll(async () => {
  const stack = await requireStack();
  kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: 'consumer-test', logger });
  registry = createSchemaRegistry(stack.schemaRegistryUrl);
  topic = uniqueName('test.events');
  dlq = `${topic}.dlq`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }, { topic: dlq, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  schemaId = (await registerValueSchemas(registry, [{ topic, schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', required: ['id'] } }])).get(topic)!;
});

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
  await admin.disconnect();
});

async function produce(values: (object | Buffer)[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: values.map((v, i) => ({ key: `k${i % 4}`, value: Buffer.isBuffer(v) ? v : frameJson(schemaId, v), headers: { 'badgestream-tenant': 't1' } })),
  });
  await producer.disconnect();
}

function runner(groupId: string, handleBatch: (records: ConsumedRecord[]) => Promise<PoisonedRecord[]>): ConsumerRunner {
  return new ConsumerRunner({ kafka, registry, groupId, topics: [topic], deadLetterTopic: dlq, logger, metrics: createMetricsRegistry('test'), handleBatch });
}

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ConsumerRunner on the real stack', () => {
  it('commits only after the handler succeeds, retries failures, and dead-letters poison with its reason and origin', async () => {
    await produce([{ id: 'a' }, { id: 'b' }, Buffer.from('not framed at all'), { id: 'poison' }, { id: 'c' }]);
    const group = uniqueName('test-group');
    const handled = new Set<string>();
    let failures = 0;
    const first = runner(group, async (records) => {
      // The first call fails as if MongoDB were down: nothing may be committed.
      if (failures++ === 0) throw new Error('state store unavailable');
      const poisoned: PoisonedRecord[] = [];
      for (const r of records) {
        const id = (r.value as { id: string }).id;
        if (id === 'poison') poisoned.push({ record: r, reason: 'criteria cannot be evaluated: example' });
        else handled.add(id);
      }
      return poisoned;
    });
    await first.start();
    await until(() => handled.size === 3);
    await new Promise((r) => setTimeout(r, 500));
    await first.stop();
    expect([...handled].sort()).toEqual(['a', 'b', 'c']);
    expect(failures).toBeGreaterThan(1);

    // Dead letters are read raw: one of them cannot be decoded through the registry.
    const consumer = kafka.consumer({ groupId: uniqueName('dlq-reader') });
    const deadLetters: { headers: Record<string, string>; value: Buffer }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        if (headers[DLQ_HEADERS.topic] === topic) deadLetters.push({ headers, value: message.value! });
      },
    });
    // Dead-lettering is at-least-once too (a batch replayed after a rebalance dead-letters again):
    // what counts is that each poisoned record is there, identified by its origin.
    const origins = () => new Set(deadLetters.map((d) => `${d.headers[DLQ_HEADERS.partition]}@${d.headers[DLQ_HEADERS.offset]}`));
    await until(() => origins().size === 2);
    await consumer.disconnect();
    const reasons = [...new Set(deadLetters.map((d) => d.headers[DLQ_HEADERS.reason]))].sort();
    expect(reasons[0]).toContain('cannot decode the value through the schema registry');
    expect(reasons[1]).toBe('criteria cannot be evaluated: example');
    for (const d of deadLetters) {
      expect(d.headers).toMatchObject({ [DLQ_HEADERS.group]: group, 'badgestream-tenant': 't1' });
      expect(Number(d.headers[DLQ_HEADERS.offset])).toBeGreaterThanOrEqual(0);
    }
    // The dead letter keeps the original bytes, so a fixed record can be replayed as it was.
    expect(deadLetters.some((d) => d.value.toString() === 'not framed at all')).toBe(true);

    // Everything was committed: the same group sees nothing again.
    const seenAgain: string[] = [];
    const second = runner(group, async (records) => {
      for (const r of records) seenAgain.push((r.value as { id: string }).id);
      return [];
    });
    await second.start();
    await produce([{ id: 'd' }]);
    await until(() => seenAgain.includes('d'));
    await second.stop();
    expect(seenAgain).toEqual(['d']);
  });

  it('replays fixed dead letters to their origin topic once, byte for byte, and a dry run changes nothing', async () => {
    const group = uniqueName('replay');
    const listed: string[] = [];
    const poisonReasons: string[] = [];
    const dry = await replayDeadLetters({
      kafka,
      deadLetterTopic: dlq,
      groupId: group,
      dryRun: true,
      idleMs: 3000,
      onRecord: (r) => {
        listed.push(r.outcome);
        if (r.reason.includes('criteria cannot be evaluated')) poisonReasons.push(r.reason);
      },
    });
    expect(dry.skipped).toBe(0);
    expect(dry.replayed).toBeGreaterThanOrEqual(2);
    expect(new Set(listed)).toEqual(new Set(['would replay']));

    const seen: string[] = [];
    const consumerGroup = uniqueName('after-replay');
    const after = runner(consumerGroup, async (records) => {
      for (const r of records) seen.push((r.value as { id: string }).id);
      return [];
    });
    await after.start();
    await until(() => seen.includes('d'));
    const before = seen.length;

    const done = await replayDeadLetters({ kafka, deadLetterTopic: dlq, groupId: group, reasonContains: 'criteria cannot be evaluated', idleMs: 3000 });
    // (The new group above dead-lettered the undecodable record again, under its own group id.)
    expect(done.replayed).toBe(poisonReasons.length);
    await until(() => seen.length === before + done.replayed);
    expect(new Set(seen.slice(before))).toEqual(new Set(['poison']));
    // The same replay group has nothing left to replay.
    expect(await replayDeadLetters({ kafka, deadLetterTopic: dlq, groupId: group, idleMs: 3000 })).toEqual({ replayed: 0, skipped: 0 });
    await after.stop();
  });
});
