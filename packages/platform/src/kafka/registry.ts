import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { BadgestreamError, UnavailableError } from '../errors.js';

export { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

/** The value schema of each topic, registered under the Confluent subject naming `<topic>-value`. */
export interface TopicValueSchema {
  topic: string;
  schema: object;
}

export function createSchemaRegistry(url: string): SchemaRegistry {
  // Our value schemas are JSON Schema 2020-12; the client's default Ajv speaks draft-07.
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  // The client compiles each registry id's schema on the one instance. One schema can have several
  // registry ids (an older id of the same schema after the registry lost its storage, or two
  // subjects), and Ajv refuses a second schema with the same $id: records framed with the other id
  // would fail to decode. Each compile therefore replaces what the instance knows under that $id;
  // validators compiled before keep working.
  const ajvInstance = {
    compile(schema: { $id?: string }) {
      if (typeof schema.$id === 'string') ajv.removeSchema(schema.$id);
      return ajv.compile(schema);
    },
    addSchema(schema: object, key?: string) {
      if (key) ajv.removeSchema(key);
      ajv.addSchema(schema, key);
      return ajvInstance;
    },
  };
  return new SchemaRegistry(
    { host: url, retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 } },
    // The client bundles its own Ajv copy and only calls compile on it.
    { [SchemaType.JSON]: { ajvInstance: ajvInstance as never } },
  );
}

/**
 * Registers each topic's JSON Schema and returns the registry ids. Registering an
 * unchanged schema is idempotent and returns the existing id. The compatibility
 * rule is passed explicitly: Apicurio answers "NONE" rather than 404 for a subject
 * without one, which the client would otherwise reject.
 */
export async function registerValueSchemas(registry: SchemaRegistry, schemas: TopicValueSchema[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const { topic, schema } of schemas) {
    try {
      const { id } = await registry.register(
        { type: SchemaType.JSON, schema: JSON.stringify(schema) },
        { subject: `${topic}-value`, compatibility: COMPATIBILITY.NONE },
      );
      ids.set(topic, id);
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== undefined && status >= 400 && status < 500) {
        throw new BadgestreamError(`the schema registry refused the value schema of ${topic} (${status}): ${(error as Error).message}`, { code: 'SCHEMA_REJECTED', cause: error });
      }
      throw new UnavailableError('schema-registry', `cannot register the value schema of ${topic}: ${(error as Error).message}`, error);
    }
  }
  return ids;
}
