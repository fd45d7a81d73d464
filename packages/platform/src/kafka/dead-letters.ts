import type { Kafka } from 'kafkajs';
import { DLQ_HEADERS, headerStrings } from './consumer.js';

export interface ReplayOptions {
  kafka: Kafka;
  deadLetterTopic: string;
  /** Consumer group that remembers how far replay got, so a record is replayed once. */
  groupId?: string;
  /** Replay at most this many records. */
  limit?: number;
  /** Only records whose reason contains this text. */
  reasonContains?: string;
  /** List what would be replayed; publish and commit nothing. */
  dryRun?: boolean;
  /** Stop when no record arrived for this long. */
  idleMs?: number;
  onRecord?: (entry: { originTopic: string; originOffset: string; reason: string; outcome: 'replayed' | 'would replay' | 'skipped' }) => void;
}

/**
 * Puts dead letters back on the topic they came from, byte for byte, with their original
 * key and headers (the dlq-* headers dropped), once the cause has been fixed. Consumers
 * are idempotent by event id, so replaying a record that was in fact processed is harmless.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<{ replayed: number; skipped: number }> {
  const consumer = options.kafka.consumer({ groupId: options.groupId ?? 'badgestream-dlq-replay' });
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let replayed = 0;
  let skipped = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(finish, options.idleMs ?? 5000);
  };
  await Promise.all([consumer.connect(), producer.connect()]);
  try {
    await consumer.subscribe({ topic: options.deadLetterTopic, fromBeginning: true });
    armIdle();
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        if (options.limit !== undefined && replayed >= options.limit) return finish();
        armIdle();
        const headers = headerStrings(message.headers);
        const originTopic = headers[DLQ_HEADERS.topic];
        const reason = headers[DLQ_HEADERS.reason] ?? '';
        const wanted = originTopic !== undefined && (!options.reasonContains || reason.includes(options.reasonContains));
        if (wanted && !options.dryRun) {
          const original = Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith('dlq-')));
          await producer.send({ topic: originTopic, acks: -1, messages: [{ key: message.key, value: message.value, headers: original }] });
        }
        if (wanted) replayed++;
        else skipped++;
        const outcome = !wanted ? 'skipped' : options.dryRun ? 'would replay' : 'replayed';
        options.onRecord?.({ originTopic: originTopic ?? '(unknown)', originOffset: headers[DLQ_HEADERS.offset] ?? '', reason, outcome });
        if (!options.dryRun) await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        if (options.limit !== undefined && replayed >= options.limit) finish();
      },
    });
    await finished;
  } finally {
    clearTimeout(idle);
    await consumer.disconnect();
    await producer.disconnect();
  }
  return { replayed, skipped };
}
