import { NotFoundError } from '../errors.js';
import { DLQ_HEADERS } from '../kafka/consumer.js';
import type { ReplayOptions } from '../kafka/dead-letters.js';
import type { EmbeddedBackend } from '../backend.js';
import { OFFSETS_COLLECTION, type OffsetDoc } from './consumer.js';

/**
 * replayDeadLetters over the embedded log of a data directory Badgestream is not running on:
 * the same selection, order, output and once-only bookkeeping (the replay group's position is
 * committed in the document store after each record).
 */
export async function replayEmbeddedDeadLetters(backend: EmbeddedBackend, options: Omit<ReplayOptions, 'kafka' | 'idleMs'>): Promise<{ replayed: number; skipped: number }> {
  const { log } = backend;
  if (!log.topics().includes(options.deadLetterTopic)) throw new NotFoundError(`no topic ${options.deadLetterTopic} in the embedded log; its topics are ${log.topics().join(', ')}`);
  const offsets = backend.store.db().collection<OffsetDoc>(OFFSETS_COLLECTION);
  const groupId = options.groupId ?? 'badgestream-dlq-replay';
  const id = (partition: number) => `${groupId}|${options.deadLetterTopic}|${partition}`;
  const ranges: { partition: number; from: number; end: number }[] = [];
  for (let partition = 0; partition < log.partitionCount(options.deadLetterTopic); partition++) {
    const from = (await offsets.findOne({ _id: id(partition) }))?.offset ?? 0;
    ranges.push({ partition, from, end: log.endOffset(options.deadLetterTopic, partition) });
  }
  const total = ranges.reduce((n, r) => n + r.end - r.from, 0);
  let replayed = 0;
  let skipped = 0;
  options.onProgress?.({ done: 0, total });
  for (const { partition, from, end } of ranges) {
    for (const record of log.read(options.deadLetterTopic, partition, from, end - from)) {
      if (options.limit !== undefined && replayed >= options.limit) return { replayed, skipped };
      const originTopic = record.headers[DLQ_HEADERS.topic];
      const reason = record.headers[DLQ_HEADERS.reason] ?? '';
      const wanted = originTopic !== undefined && log.topics().includes(originTopic) && (!options.reasonContains || reason.includes(options.reasonContains));
      if (wanted && !options.dryRun) {
        const original = Object.fromEntries(Object.entries(record.headers).filter(([name]) => !name.startsWith('dlq-')));
        await log.append([{ topic: originTopic, key: record.key, value: record.value, headers: original }]);
      }
      if (wanted) replayed++;
      else skipped++;
      options.onRecord?.({
        originTopic: originTopic ?? '(unknown)',
        originOffset: record.headers[DLQ_HEADERS.offset] ?? '',
        reason,
        outcome: !wanted ? 'skipped' : options.dryRun ? 'would replay' : 'replayed',
      });
      if (!options.dryRun) await offsets.updateOne({ _id: id(partition) }, { $set: { offset: record.offset + 1 } }, { upsert: true });
      options.onProgress?.({ done: replayed + skipped, total });
    }
  }
  return { replayed, skipped };
}
