/**
 * npm run bench:ingest — ingest throughput and latency on the real stack, against a
 * bare kafkajs producer sending the same events in the same run.
 *
 * For envelopes of 1, 10 and 100 events: events per second and p50/p99 latency of
 * POST /caliper (ingest runs as its own process, as deployed), and of the baseline:
 * an idempotent kafkajs producer (acks=all) sending the same events, batch for batch,
 * with the same concurrency, to a topic of the same partition count.
 * Target (issue 2): at 100-event envelopes, ingest ≥ 50% of the baseline's events/s.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveLearner } from '@badgestream/caliper';
import { MongoTenantDirectory, connectMongo, createKafka, createLogger } from '@badgestream/platform';
import { requireStack } from '../support/stack.js';
import { REPO_ROOT, envelopeOf, uniqueName } from '../support/ingest.js';
import { figures, formatRow, runConcurrently, type RunFigures } from './stats.js';
import { freePort } from '../support/net.js';

const SIZES = [1, 10, 100];
const EVENTS_PER_SIZE: Record<number, number> = { 1: Number(process.env.BENCH_EVENTS_1 ?? 4000), 10: Number(process.env.BENCH_EVENTS_10 ?? 20000), 100: Number(process.env.BENCH_EVENTS_100 ?? 50000) };
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Ingest and baseline alternate this many times per envelope size; the median round is reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LEARNERS = 1000;
const PARTITIONS = Number(process.env.KAFKA_TOPIC_PARTITIONS ?? 6);

function makeEvent(i: number) {
  const learner = `https://example.edu/users/${i % LEARNERS}`;
  const kind = i % 3;
  const base = { '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p2', id: `urn:uuid:${crypto.randomUUID()}`, eventTime: new Date(Date.UTC(2026, 9, 1) + i * 1000).toISOString(), edApp: { id: 'https://example.edu', type: 'SoftwareApplication' } };
  const group = { id: 'https://example.edu/terms/201601/courses/7/sections/1', type: 'CourseSection', courseNumber: 'CPS 435-01' };
  if (kind === 0) {
    return { ...base, type: 'ViewEvent', profile: 'ReadingProfile', actor: { id: learner, type: 'Person' }, action: 'Viewed', object: { id: `https://example.edu/etexts/${i % 50}.epub`, type: 'Document', name: 'Chapter' }, group };
  }
  if (kind === 1) {
    return {
      ...base,
      type: 'AssessmentEvent',
      profile: 'AssessmentProfile',
      actor: { id: learner, type: 'Person' },
      action: 'Submitted',
      object: { id: `https://example.edu/courses/7/assess/${i % 8}`, type: 'Assessment', name: 'Quiz' },
      generated: { id: `${learner}/attempts/${i}`, type: 'Attempt', assignee: learner, assignable: `https://example.edu/courses/7/assess/${i % 8}`, count: 1 },
      group,
    };
  }
  return {
    ...base,
    type: 'GradeEvent',
    profile: 'GradingProfile',
    actor: { id: 'https://example.edu/autograder', type: 'SoftwareApplication' },
    action: 'Graded',
    object: { id: `${learner}/attempts/${i}`, type: 'Attempt', assignee: { id: learner, type: 'Person' }, assignable: `https://example.edu/courses/7/assess/${i % 8}`, count: 1 },
    generated: { id: `${learner}/attempts/${i}/score`, type: 'Score', attempt: `${learner}/attempts/${i}`, maxScore: 10, scoreGiven: i % 11 },
    group,
  };
}

// node:http with keep-alive rather than fetch: the load generator shares the cores with ingest
// and Kafka, so it should spend as little CPU per request as it can.
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(url: URL, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function median<T>(items: T[], by: (t: T) => number): T {
  return [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)]!;
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`ingest at ${url} was not ready within ${timeoutMs} ms`);
}

async function main(): Promise<void> {
  const stack = await requireStack();
  const env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri };

  const mongo = await connectMongo(stack.mongodbUri);
  const directory = new MongoTenantDirectory(mongo.db);
  await directory.init();
  const tenant = uniqueName('bench');
  await directory.createTenant(tenant);
  const { token } = await directory.createKey(tenant, 'sensor', 'bench:ingest');
  await mongo.close();

  const port = await freePort();
  // BENCH_INGEST_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the ingest process.
  const nodeArgs = (process.env.BENCH_INGEST_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO_ROOT, 'bin/badgestream.js'), 'serve', 'ingest', '--port', String(port)], {
    env: { ...env, LOG_LEVEL: 'warn', INGEST_INSTANCE_ID: uniqueName('bench'), INGEST_MAX_PAYLOAD_KB: '4096' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;

  const kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: 'badgestream-bench', logger: createLogger('bench', 'error') });
  const baselineTopic = 'bench.baseline';
  const admin = kafka.admin();
  await admin.connect();
  if (!(await admin.listTopics()).includes(baselineTopic)) await admin.createTopics({ topics: [{ topic: baselineTopic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  try {
    await waitReady(url, 60_000);
    const results: { size: number; ingest: RunFigures; baseline: RunFigures }[] = [];

    const caliperUrl = new URL(`${url}/caliper`);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    let next = 0;
    const freshEnvelopes = (count: number, size: number) => Array.from({ length: count }, () => Array.from({ length: size }, () => makeEvent(next++)));

    for (const size of SIZES) {
      const batchesPerRound = Math.max(1, Math.ceil(EVENTS_PER_SIZE[size]! / size / ROUNDS));

      // Warm-up: connections, JIT, transactional producers, registry ids.
      const warm = freshEnvelopes(Math.min(50, batchesPerRound), size);
      await runConcurrently(warm.length, CONCURRENCY, async (i) => void (await post(caliperUrl, headers, JSON.stringify(envelopeOf(warm[i]!)))));
      await runConcurrently(warm.length, CONCURRENCY, async (i) => {
        await producer.send({ topic: baselineTopic, acks: -1, messages: warm[i]!.map((e) => ({ key: `${tenant}|${resolveLearner(e)}`, value: JSON.stringify(e) })) });
      });

      const ingestRounds: RunFigures[] = [];
      const baselineRounds: RunFigures[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const envelopes = freshEnvelopes(batchesPerRound, size);
        const bodies = envelopes.map((events) => JSON.stringify(envelopeOf(events)));
        const ingestRun = await runConcurrently(batchesPerRound, CONCURRENCY, async (i) => {
          const response = await post(caliperUrl, headers, bodies[i]!);
          if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${response.text.slice(0, 500)}`);
        });
        ingestRounds.push(figures(batchesPerRound * size, ingestRun));
        // The same events, batch for batch, straight to Kafka.
        const baselineRun = await runConcurrently(batchesPerRound, CONCURRENCY, async (i) => {
          await producer.send({ topic: baselineTopic, acks: -1, messages: envelopes[i]!.map((e) => ({ key: `${tenant}|${resolveLearner(e)}`, value: JSON.stringify(e) })) });
        });
        baselineRounds.push(figures(batchesPerRound * size, baselineRun));
      }
      results.push({ size, ingest: median(ingestRounds, (r) => r.eventsPerSecond), baseline: median(baselineRounds, (r) => r.eventsPerSecond) });
    }

    const widths = [8, 9, 12, 9, 9, 14, 9, 9, 8];
    console.log(`\nbench:ingest — concurrency ${CONCURRENCY}, ${PARTITIONS} partitions, ${LEARNERS} learners, acks=all; median of ${ROUNDS} alternating rounds`);
    console.log(formatRow(['events/', 'events', 'ingest', 'p50', 'p99', 'bare kafkajs', 'p50', 'p99', 'ratio'], widths));
    console.log(formatRow(['envelope', 'per round', 'events/s', 'ms', 'ms', 'events/s', 'ms', 'ms', ''], widths));
    for (const r of results) {
      console.log(
        formatRow(
          [r.size, r.ingest.events, r.ingest.eventsPerSecond, r.ingest.p50Ms, r.ingest.p99Ms, r.baseline.eventsPerSecond, r.baseline.p50Ms, r.baseline.p99Ms, `${((100 * r.ingest.eventsPerSecond) / r.baseline.eventsPerSecond).toFixed(0)}%`],
          widths,
        ),
      );
    }
    const at100 = results.find((r) => r.size === 100)!;
    const ratio = at100.ingest.eventsPerSecond / at100.baseline.eventsPerSecond;
    console.log(`\nat 100-event envelopes ingest reaches ${(100 * ratio).toFixed(0)}% of the bare producer's events/s (target ≥ 50%)`);
    const outDir = path.join(REPO_ROOT, 'test-output');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'bench-ingest.json'), JSON.stringify({ concurrency: CONCURRENCY, partitions: PARTITIONS, rounds: ROUNDS, results }, null, 2));
  } finally {
    agent.destroy();
    await producer.disconnect();
    child.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
