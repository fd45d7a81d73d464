import type { Kafka } from 'kafkajs';

export const TOPICS = {
  events: 'caliper.events',
  entities: 'caliper.entities',
  /** Records a consumer could not decode or process, with the reason and origin in headers. */
  eventsDeadLetters: 'caliper.events.dlq',
} as const;

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries?: { name: string; value: string }[];
}

/** The topics Badgestream writes, with their settings. */
export function badgestreamTopics(partitions: number, replicationFactor: number): TopicSpec[] {
  return [
    { topic: TOPICS.events, numPartitions: partitions, replicationFactor },
    // The latest describe of an entity is what matters: compact by tenant|entity id.
    { topic: TOPICS.entities, numPartitions: partitions, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    { topic: TOPICS.eventsDeadLetters, numPartitions: 1, replicationFactor },
  ];
}

/** Creates missing topics; existing ones are left as they are. */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** The number of partitions of a topic. */
export async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}
