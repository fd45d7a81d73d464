/**
 * The stack itself: what the rest of Badgestream relies on from Kafka (kafkajs 2.2.4), the schema
 * registry's Confluent API (@kafkajs/confluent-schema-registry, JSON Schema) and MongoDB (the
 * mongodb 6 driver; FerretDB on the local stack). Fails with the `npm run stack:up` hint when
 * there is no stack.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, Partitioners, logLevel, type Consumer, type Producer } from 'kafkajs';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { MongoClient, MongoServerError } from 'mongodb';
import { requireStack, uniqueName, type StackEnv } from '../support/stack.js';

const eventSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'StackTestEvent',
  type: 'object',
  properties: {
    id: { type: 'string' },
    learner: { type: 'string' },
    score: { type: 'number' },
  },
  required: ['id', 'learner'],
  additionalProperties: false,
};

// Every test awaits the stack itself, so that without one each test FAILS with the
// StackUnavailableError naming `npm run stack:up` (a failing beforeAll would only skip them).
let stackPromise: Promise<StackEnv> | undefined;
function requiredStack(): Promise<StackEnv> {
  stackPromise ??= requireStack();
  return stackPromise;
}

describe('Kafka + schema registry', () => {
  let kafka: Kafka | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  const topic = uniqueName('stack-test');

  afterAll(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    if (kafka) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('creates a topic, produces idempotently with acks=all and consumes the registry-framed JSON back', async () => {
    const stack = await requiredStack();
    kafka = new Kafka({ clientId: 'stack-test', brokers: stack.kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true);
      expect(await admin.listTopics()).toContain(topic);
    } finally {
      await admin.disconnect();
    }

    const registry = new SchemaRegistry({ host: stack.schemaRegistryUrl });
    const { id } = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(eventSchema) }, { subject: `${topic}-value` });
    expect(id).toBeGreaterThan(0);
    // Registering the same schema again is a no-op that returns the same id.
    expect((await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(eventSchema) }, { subject: `${topic}-value` })).id).toBe(id);

    const events = Array.from({ length: 6 }, (_, i) => ({ id: `urn:uuid:${crypto.randomUUID()}`, learner: `learner-${i % 3}`, score: i }));
    const encoded = await Promise.all(events.map((e) => registry.encode(id, e)));
    // Confluent wire format: magic byte 0, then the schema id as a big-endian int32, then the JSON.
    for (const buffer of encoded) {
      expect(buffer[0]).toBe(0);
      expect(buffer.readInt32BE(1)).toBe(id);
    }
    // The registry's schema is enforced on encode.
    await expect(registry.encode(id, { id: 'x' })).rejects.toThrow();

    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const acks = await producer.send({
      topic,
      acks: -1,
      messages: events.map((e, i) => ({ key: e.learner, value: encoded[i]! })),
    });
    expect(acks.every((r) => r.errorCode === 0)).toBe(true);

    consumer = kafka.consumer({ groupId: uniqueName('stack-test-group') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received: Array<{ key: string; value: unknown }> = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${received.length} of ${events.length} messages in 60 s`)), 60_000);
      void consumer!.run({
        eachMessage: async ({ message }) => {
          received.push({ key: message.key!.toString(), value: await registry.decode(message.value!) });
          if (received.length === events.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    expect(received.map((r) => r.value)).toEqual(expect.arrayContaining(events));
    // Keyed by learner: one learner's events stay on one partition, in order.
    for (const learner of ['learner-0', 'learner-1', 'learner-2']) {
      const order = received.filter((r) => r.key === learner).map((r) => (r.value as { score: number }).score);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it('keeps a subject compatible: an incompatible JSON Schema is refused', async () => {
    const stack = await requiredStack();
    const registry = new SchemaRegistry({ host: stack.schemaRegistryUrl });
    const subject = uniqueName('stack-compat');
    // First registration through the client: it sets the subject's compatibility (BACKWARD).
    await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(eventSchema) }, { subject, compatibility: COMPATIBILITY.BACKWARD });
    const config = await fetch(`${stack.schemaRegistryUrl}/config/${subject}`);
    expect(((await config.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');
    const incompatible = { ...eventSchema, properties: { ...eventSchema.properties, score: { type: 'string' } } };
    await expect(registry.register({ type: SchemaType.JSON, schema: JSON.stringify(incompatible) }, { subject })).rejects.toThrow();
  });

  it('registers through the client into a subject created without a compatibility rule once the rule is set (Apicurio answers NONE, not 404)', async () => {
    const stack = await requiredStack();
    const registry = new SchemaRegistry({ host: stack.schemaRegistryUrl });
    const subject = uniqueName('stack-raw');
    const headers = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
    const created = await fetch(`${stack.schemaRegistryUrl}/subjects/${subject}/versions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify(eventSchema) }),
    });
    expect(created.status).toBe(200);
    // Setting the subject's compatibility explicitly works on Apicurio and on Confluent alike.
    const put = await fetch(`${stack.schemaRegistryUrl}/config/${subject}`, { method: 'PUT', headers, body: JSON.stringify({ compatibility: 'BACKWARD' }) });
    expect(put.status).toBe(200);
    const { id } = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(eventSchema) }, { subject });
    expect(id).toBe(((await created.json()) as { id: number }).id);
  });
});

describe('MongoDB', () => {
  let client: MongoClient | undefined;
  const dbName = uniqueName('stack-test').replace(/-/g, '_');

  afterAll(async () => {
    await client?.db(dbName).dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('inserts, finds, and a unique (compound) index rejects a duplicate', async () => {
    const stack = await requiredStack();
    client = new MongoClient(stack.mongodbUri, { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
    const awards = client.db(dbName).collection<{ tenant: string; learner: string; badge: string; at: number }>('awards');
    await awards.createIndex({ tenant: 1, learner: 1, badge: 1 }, { unique: true, name: 'tenant_learner_badge' });
    expect((await awards.indexes()).map((i) => i.name)).toContain('tenant_learner_badge');

    await awards.insertMany([
      { tenant: 't1', learner: 'l1', badge: 'b1', at: 1 },
      { tenant: 't1', learner: 'l1', badge: 'b2', at: 2 },
      { tenant: 't1', learner: 'l2', badge: 'b1', at: 3 },
    ]);
    const duplicate = await awards.insertOne({ tenant: 't1', learner: 'l1', badge: 'b1', at: 4 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(duplicate).toBeInstanceOf(MongoServerError);
    expect((duplicate as MongoServerError).code).toBe(11000);

    const found = await awards.find({ tenant: 't1', at: { $gte: 2 } }, { projection: { _id: 0 } }).sort({ at: 1 }).toArray();
    expect(found).toEqual([
      { tenant: 't1', learner: 'l1', badge: 'b2', at: 2 },
      { tenant: 't1', learner: 'l2', badge: 'b1', at: 3 },
    ]);
    const upserted = await awards.updateOne({ tenant: 't1', learner: 'l3', badge: 'b1' }, { $setOnInsert: { at: 5 } }, { upsert: true });
    expect(upserted.upsertedCount).toBe(1);
    expect(await awards.countDocuments({ tenant: 't1' })).toBe(4);
  });
});
