import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, createKafka, createLogger } from '@badgestream/platform';
import { endOffsets, uniqueName } from '../support/ingest.js';
import { requireStack } from '../support/stack.js';
import { badgestreamCli, type CliResult } from '../support/cli.js';

/**
 * `badgestream dlq replay`, run as the operator runs it (a process of its own, from the sources),
 * over a dead-letter topic of its own: the counts on stdout, the progress on stderr.
 */

let env: NodeJS.ProcessEnv;
let kafka: Kafka;
const origin = uniqueName('dlq-origin');
const dlq = uniqueName('dlq');
/** Longer than a command may run (120 s, then it is killed and fails): each must stop on its own once through the dead letters. */
const IDLE = '600000';

function badgestream(...args: string[]): Promise<CliResult> {
  return badgestreamCli(args, { env, timeoutMs: 120_000, fromSource: true });
}

beforeAll(async () => {
  const stack = await requireStack();
  env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri };
  kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: 'badgestream-test', logger: createLogger('kafka-test', 'error') });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic: origin, numPartitions: 1 },
      { topic: dlq, numPartitions: 2 },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
  // Seven dead letters over both partitions: five the fix is for, two that still cannot be decoded.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic: dlq,
    acks: -1,
    messages: Array.from({ length: 7 }, (_, i) => ({
      partition: i % 2,
      key: `tenant|learner-${i}`,
      value: Buffer.from(`record ${i}`),
      headers: {
        'badgestream-tenant': 'tenant',
        [DLQ_HEADERS.topic]: origin,
        [DLQ_HEADERS.partition]: '0',
        [DLQ_HEADERS.offset]: String(100 + i),
        [DLQ_HEADERS.reason]: i < 5 ? 'criteria cannot be evaluated: a bug since fixed' : 'cannot decode the value through the schema registry',
      },
    })),
  });
  await producer.disconnect();
});

afterAll(async () => {
  const admin = kafka?.admin();
  await admin?.connect();
  await admin?.deleteTopics({ topics: [origin, dlq] }).catch(() => undefined);
  await admin?.disconnect();
});

describe('badgestream dlq replay', () => {
  it('shows progress over the dead letters there are on stderr, prints the records and counts on stdout, and stops once through them', async () => {
    const dry = await badgestream('dlq', 'replay', '--topic', dlq, '--reason', 'criteria cannot', '--dry-run', '--idle', IDLE);
    expect(dry.code).toBe(0);
    expect(dry.stdout.trim().split('\n').at(-1)).toBe('would replay 5, skipped 2');
    expect(dry.stderr.trim().split('\n').at(-1)).toBe('dry run: 100% 7/7 dead letters');

    const replay = await badgestream('dlq', 'replay', '--topic', dlq, '--reason', 'criteria cannot', '--idle', IDLE);
    expect(replay.code).toBe(0);
    const lines = replay.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('replayed 5, skipped 2');
    expect(
      lines
        .slice(0, -1)
        .map((l) => l.split('\t')[0])
        .sort(),
    ).toEqual(['replayed', 'replayed', 'replayed', 'replayed', 'replayed', 'skipped', 'skipped']);
    expect(
      lines
        .filter((l) => l.startsWith('replayed\t'))
        .map((l) => l.split('\t')[1])
        .sort(),
    ).toEqual([100, 101, 102, 103, 104].map((o) => `${origin}@${o}`));
    // Progress on stderr only, plain lines (not a terminal), from the start to all seven.
    const progress = replay.stderr.trim().split('\n');
    expect(progress[0]).toMatch(/^replay: /);
    expect(progress.at(-1)).toBe('replay: 100% 7/7 dead letters');
    expect(progress.every((l) => /^replay: /.test(l))).toBe(true);
    expect(replay.stdout).not.toContain('replay: ');
    expect((await endOffsets(kafka, origin)).get(0)).toBe('5');

    // Nothing is left for the group: it says so at once.
    const again = await badgestream('dlq', 'replay', '--topic', dlq, '--idle', IDLE);
    expect(again).toMatchObject({ code: 0, stdout: 'replayed 0, skipped 0\n' });
    expect(again.stderr.trim().split('\n').at(-1)).toBe('replay: nothing to go through');

    expect(await badgestream('dlq', 'replay', '--topic', uniqueName('no-such-topic'))).toMatchObject({ code: 1, stderr: expect.stringContaining('there is no topic') as string });
  }, 600_000);
});
