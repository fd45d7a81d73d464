import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { ConfigOf, commonOptions } from './config.js';
import { createKafka } from './kafka/client.js';
import { createSchemaRegistry, registerValueSchemas, type SchemaRegistry, type TopicValueSchema } from './kafka/registry.js';
import { badgestreamTopics, ensureTopics } from './kafka/topics.js';
import type { Logger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { connectMongo, type MongoConnection } from './mongo/connect.js';

export interface Infrastructure {
  metrics: Registry;
  kafka: Kafka;
  registry: SchemaRegistry;
  /** Registry id of each topic's value schema. */
  valueSchemaIds: ReadonlyMap<string, number>;
  mongo: MongoConnection;
}

/**
 * What every service connects to at start, in the same order: a metrics registry, Kafka (creating
 * missing topics if asked), the schema registry (registering the topics' value schemas) and MongoDB.
 */
export async function connectInfrastructure(options: {
  service: string;
  config: ConfigOf<typeof commonOptions> & { createTopics: boolean };
  logger: Logger;
  valueSchemas: TopicValueSchema[];
}): Promise<Infrastructure> {
  const { service, config, logger } = options;
  const metrics = createMetricsRegistry(service);
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-${service}`, logger });
  if (config.createTopics) await ensureTopics(kafka, badgestreamTopics(config.topicPartitions, config.topicReplicationFactor));
  const registry = createSchemaRegistry(config.schemaRegistryUrl);
  const valueSchemaIds = await registerValueSchemas(registry, options.valueSchemas);
  const mongo = await connectMongo(config.mongodbUri, { appName: `badgestream-${service}` });
  return { metrics, kafka, registry, valueSchemaIds, mongo };
}
