import { commonOptions, createKafka, createLogger, loadConfig, replayDeadLetters } from '@badgestream/platform';
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
  const { kafkaBrokers } = loadConfig({ kafkaBrokers: commonOptions.kafkaBrokers });
  const kafka = createKafka({ brokers: kafkaBrokers, clientId: 'badgestream-cli', logger: createLogger('cli', 'error') });
  // Shown once the replay knows how many dead letters there are.
  let progress: Progress | undefined;
  let result: { replayed: number; skipped: number };
  try {
    result = await replayDeadLetters({
      kafka,
      deadLetterTopic: opts.topic,
      dryRun: opts.dryRun,
      idleMs: opts.idle,
      ...(opts.reason ? { reasonContains: opts.reason } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      onRecord: (r) => (progress ? progress.print(line(r)) : console.log(line(r))),
      onProgress: (figures) => {
        progress ??= startProgress({ label: opts.dryRun ? 'dry run' : 'replay', unit: 'dead letters', initial: figures });
        progress.update(figures);
      },
    });
  } finally {
    progress?.stop();
  }
  console.log(`${opts.dryRun ? 'would replay' : 'replayed'} ${result.replayed}, skipped ${result.skipped}`);
}
