import { describe, expect, it } from 'vitest';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { TOPICS, createSchemaRegistry, frameJson, registerValueSchemas } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { sessionEvent } from '../support/events.js';
import { uniqueName } from '../support/ingest.js';
import { requireStack } from '../support/stack.js';

describe('decoding through the schema registry', () => {
  it('decodes records framed with any registry id of a schema, even two ids with one $id', async () => {
    const stack = await requireStack();
    const registry = createSchemaRegistry(stack.schemaRegistryUrl);
    const schemas = loadKafkaValueSchemas();
    const ids = await registerValueSchemas(registry, schemas);
    const events = schemas.find((s) => s.topic === TOPICS.events)!.schema as Record<string, unknown>;
    // The same schema ($id included) with another text, as after a change or under another subject: a second id.
    const { id: other } = await registry.register(
      { type: SchemaType.JSON, schema: JSON.stringify({ ...events, description: `copy ${uniqueName('schema')}` }) },
      { subject: `${uniqueName('copy')}-value`, compatibility: COMPATIBILITY.NONE },
    );
    expect(other).not.toBe(ids.get(TOPICS.events));
    const event = sessionEvent('https://example.edu/users/554433');
    expect(await registry.decode(frameJson(ids.get(TOPICS.events)!, event))).toEqual(event);
    expect(await registry.decode(frameJson(other, event))).toEqual(event);
  });
});
