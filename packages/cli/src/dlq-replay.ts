import { commonOptions, createKafka, createLogger, loadConfig, modeOf, replayDeadLetters, replayEmbeddedDeadLetters } from '@badgestream/platform';
import { openEmbedded } from './start.js';
import { startProgress, type Progress } from './progress.js';

const line = (r: { outcome: string; originTopic: string; originOffset: string; reason: string }) => `${r.outcome}\t${r.originTopic}@${r.originOffset}\t${r.reason}`;

export interface DlqReplayOptions {
  topic: string;
  reason?: string;
  limit?: number;
  dryRun: boolean;
  idle: number;
}

/**
 * `badgestream dlq replay`: one line per dead letter and a last line with the counts on stdout,
 * a progress bar over the dead letters there were when it started on stderr.
 */
export async function replayDeadLettersCommand(opts: DlqReplayOptions): Promise<void> {
  // Shown once the replay knows how many dead letters there are.
  let progress: Progress | undefined;
  let result: { replayed: number; skipped: number };
  const common = {
    deadLetterTopic: opts.topic,
    dryRun: opts.dryRun,
    ...(opts.reason ? { reasonContains: opts.reason } : {}),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    onRecord: (r: Parameters<typeof line>[0]) => (progress ? progress.print(line(r)) : console.log(line(r))),
    onProgress: (figures: { done: number; total: number }) => {
      progress ??= startProgress({ label: opts.dryRun ? 'dry run' : 'replay', unit: 'dead letters', initial: figures });
      progress.update(figures);
    },
  };
  try {
    if (modeOf(process.env) === 'embedded') {
      // On the data directory, while Badgestream is stopped: the replayed records are read at its next start.
      const embedded = openEmbedded(process.env, loadConfig({ topicPartitions: commonOptions.topicPartitions }).topicPartitions);
      try {
        result = await replayEmbeddedDeadLetters(embedded, common);
      } finally {
        await embedded.close();
      }
    } else {
      const { kafkaBrokers } = loadConfig({ kafkaBrokers: commonOptions.kafkaBrokers });
      const kafka = createKafka({ brokers: kafkaBrokers, clientId: 'badgestream-cli', logger: createLogger('cli', 'error') });
      result = await replayDeadLetters({ kafka, idleMs: opts.idle, ...common });
    }
  } finally {
    progress?.stop();
  }
  console.log(`${opts.dryRun ? 'would replay' : 'replayed'} ${result.replayed}, skipped ${result.skipped}`);
}
