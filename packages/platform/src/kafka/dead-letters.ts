import type { Kafka } from 'kafkajs';
import { NotFoundError } from '../errors.js';
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
  /** Told how far the replay got: dead letters gone through (replayed or skipped) of those there were when it started. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

/**
 * Puts dead letters back on the topic they came from, byte for byte, with their original
 * key and headers (the dlq-* headers dropped), once the cause has been fixed. Consumers
 * are idempotent by event id, so replaying a record that was in fact processed is harmless.
 *
 * It goes through the dead letters there are when it starts (from the group's committed offsets
 * to the end offsets then) and stops there: a record that fails again once replayed comes back as
 * a new dead letter for the next replay, not in a loop within this one. `idleMs` without a record
 * also stops it.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<{ replayed: number; skipped: number }> {
  const groupId = options.groupId ?? 'badgestream-dlq-replay';
  const consumer = options.kafka.consumer({ groupId });
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
  const range = await deadLetterRange(options.kafka, options.deadLetterTopic, groupId);
  if ([...range.values()].every(({ start, end }) => start >= end)) {
    options.onProgress?.({ done: 0, total: 0 });
    return { replayed: 0, skipped: 0 };
  }
  const positions = new Map([...range].map(([partition, { start }]) => [partition, start]));
  const progress = () => {
    let done = 0;
    let total = 0;
    let left = false;
    for (const [partition, { start, end }] of range) {
      done += Number(positions.get(partition)! - start);
      total += Number(end - start);
      if (positions.get(partition)! < end) left = true;
    }
    options.onProgress?.({ done, total });
    if (!left) finish();
  };
  await Promise.all([consumer.connect(), producer.connect()]);
  try {
    await consumer.subscribe({ topic: options.deadLetterTopic, fromBeginning: true });
    armIdle();
    progress();
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        if (options.limit !== undefined && replayed >= options.limit) return finish();
        const end = range.get(partition)?.end ?? 0n;
        // Dead-lettered since the replay started: left for the next one.
        if (BigInt(message.offset) >= end) return;
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
        positions.set(partition, BigInt(message.offset) + 1n);
        progress();
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

/** Per partition of the dead-letter topic, where the group's replay resumes and where the topic ends now. */
async function deadLetterRange(kafka: Kafka, topic: string, groupId: string): Promise<Map<number, { start: bigint; end: bigint }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Asked first: kafkajs keeps retrying the offsets of a topic that does not exist.
    if (!(await admin.listTopics()).includes(topic)) throw new NotFoundError(`there is no topic ${topic}`);
    const [offsets, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const resumeAt = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    return new Map(
      offsets.map((o) => {
        const low = BigInt(o.low);
        const end = BigInt(o.high);
        // No committed offset (-1), or one the retention passed: the consumer starts at the oldest record.
        const at = resumeAt.get(o.partition) ?? -1n;
        const start = at < low ? low : at > end ? end : at;
        return [o.partition, { start, end }];
      }),
    );
  } finally {
    await admin.disconnect();
  }
}
