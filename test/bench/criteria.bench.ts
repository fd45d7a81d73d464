/**
 * npm run bench:criteria — the criteria consumer on the real stack, against a bare-driver
 * baseline consuming the same records in the same run.
 *
 * 1. Throughput: BENCH_EVENTS graded attempts (1,000 learners, 20 courses) are written to
 *    caliper.events. The criteria service (its own process, as deployed, 20 active criteria)
 *    and the baseline (a kafkajs consumer that writes one MongoDB document per event with
 *    insertMany, then commits) each consume exactly that range from its start, watched through
 *    the group's committed offsets. Sustained events/s (the target's measure) = the records
 *    committed after the group first had 10% of them committed / the time since then; start-up
 *    (process start, group join, taking the partitions over, evaluating the criteria over the
 *    stored history) falls in the first 10%. Events/s with start-up = records / time from the
 *    consumer's start until the group has committed past a sentinel on every partition; both
 *    are printed.
 * 2. Latency: with the consumer caught up, fresh learners' events (the same stream) arrive at half
 *    the sustained rate (or BENCH_LATENCY_RATE events/s) for BENCH_LATENCY_SECONDS, on schedule
 *    with up to 32 envelopes in flight: first written to caliper.events as the ingest service
 *    writes them (a transaction per envelope, the same headers), which is the target's measure,
 *    then posted through the ingest API, which on a small machine may not take that rate beside
 *    everything else (the rate it was offered is printed). BENCH_LATENCY_VIA=kafka or ingest runs
 *    one of the two. Latency is the Demonstrated record's Kafka timestamp minus the
 *    badgestream-received-at header of the event that caused it, split at the cause's own record
 *    timestamp into the write's (or ingest's) part and the criteria service's.
 * 3. Where the criteria service's time went, from its own /metrics.
 * Target (issue 3): criteria ≥ 50% of the baseline's sustained events/s; p99 < 1 s at half the rate.
 * BENCH_CRITERIA_NODE_ARGS: node options for the criteria service (e.g. --cpu-prof --cpu-prof-dir=DIR).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Criteria } from '@badgestream/criteria';
import { KafkaEventLog, MongoCriteriaDefinitions, MongoLearnerProgress, TOPICS, createLogger, createMetricsRegistry, frameJson, registerValueSchemas } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { REPO_ROOT, endOffsets, envelopeOf, startIngestHarness, uniqueName, type IngestHarness } from '../support/ingest.js';
import { gradeEvent, sessionEvent } from '../support/events.js';
import { freePort } from '../support/net.js';
import { courseBadge, courseCriteria, courseIri, startGroupAt } from '../support/criteria-stream.js';
import { formatRow, percentile } from './stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const LEARNERS = 1000;
const BADGES = 20;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
/** The rate of the latency part, when not half the criteria consumer's sustained rate (events/s). */
const LATENCY_RATE = process.env.BENCH_LATENCY_RATE ? Number(process.env.BENCH_LATENCY_RATE) : undefined;
/** Envelopes posted and not yet answered, at most, in the latency part. */
const POSTS_IN_FLIGHT = 32;
/** How the latency part's events arrive: written to caliper.events as ingest writes them (kafka), posted to the ingest API (ingest), or both, one after the other. */
const LATENCY_VIA: ('kafka' | 'ingest')[] = process.env.BENCH_LATENCY_VIA === 'kafka' ? ['kafka'] : process.env.BENCH_LATENCY_VIA === 'ingest' ? ['ingest'] : ['kafka', 'ingest'];
/** Node options for the criteria service's process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles` to profile it. */
const NODE_ARGS = (process.env.BENCH_CRITERIA_NODE_ARGS ?? '').split(' ').filter(Boolean);

const run = uniqueName('bench');
const course = (k: number) => courseIri(run, k);
const badgeClass = (k: number) => courseBadge(run, k);

const criteriaFor = (k: number): Criteria => courseCriteria(run, k);

let sequence = 0;
function graded(learner: string, k: number, q: number, score: number): Record<string, unknown> {
  const n = sequence++;
  const assignable = `${course(k)}/quizzes/${q}`;
  return gradeEvent(learner, { assignable, attempt: `${assignable}/attempts/${n}`, scoreGiven: score, maxScore: 10, eventTime: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString() });
}

/**
 * The n-th event of a stream: each learner works through the courses in turn, five quizzes a
 * course, scores spread around the bar, so that about one event in twelve completes a badge
 * (three quizzes of a course passed). Past 100 events a learner, courses come round again and
 * quizzes are regraded: awards are revoked and earned again.
 */
function streamEvent(cohort: string, n: number): Record<string, unknown> {
  const learner = n % LEARNERS;
  const turn = Math.floor(n / LEARNERS);
  return graded(`https://example.edu/users/${run}-${cohort}-${learner}`, (learner + Math.floor(turn / 5)) % BADGES, turn % 5, (n * 13) % 11);
}

/**
 * The Demonstrated events a stream causes, as the criteria say: an award when three distinct
 * quizzes of a course stand passed (latest grade each) and none is held; even courses revoke when
 * a regrade drops below, odd ones keep the award.
 */
class ExpectedAwards {
  private readonly passed = new Map<string, Set<number>>();
  private readonly held = new Set<string>();
  /** The ids of the events that complete an award. */
  readonly causes = new Set<string>();

  see(event: Record<string, unknown>): void {
    const assignable = (event.object as { assignable: { id: string } }).assignable.id;
    const { scoreGiven, maxScore } = event.generated as { scoreGiven: number; maxScore: number };
    const [, k, quiz] = /\/courses\/(\d+)\/quizzes\/(\d+)$/.exec(assignable)!;
    const key = `${learnerOf(event)}|${k}`;
    let quizzes = this.passed.get(key);
    if (!quizzes) this.passed.set(key, (quizzes = new Set()));
    if (scoreGiven / maxScore >= 0.6) quizzes.add(Number(quiz));
    else quizzes.delete(Number(quiz));
    if (quizzes.size >= 3 && !this.held.has(key)) {
      this.held.add(key);
      this.causes.add(event.id as string);
    } else if (quizzes.size < 3 && this.held.has(key) && Number(k) % 2 === 0) {
      this.held.delete(key);
    }
  }
}

function learnerOf(event: Record<string, unknown>): string {
  return (event.object as { assignee: { id: string } }).assignee.id;
}

/** Writes one event no criteria cares about to every partition; returns their offsets. */
async function writeSentinels(h: IngestHarness, schemaId: number, partitions: Iterable<number>): Promise<Map<number, bigint>> {
  const producer = h.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sentinels = new Map<number, bigint>();
  for (const partition of partitions) {
    const event = sessionEvent(`https://example.edu/users/${run}-sentinel-${partition}`);
    const [meta] = await producer.send({ topic: TOPICS.events, acks: -1, messages: [{ partition, key: `${h.tenant}|sentinel-${partition}`, value: frameJson(schemaId, event), headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': event.id } }] });
    sentinels.set(partition, BigInt(meta!.baseOffset!));
  }
  await producer.disconnect();
  return sentinels;
}

/** How long a consumer took: in all, and over its sustained part (after the first 10% of the records). */
interface Timing {
  /** The records consumed (the events and a sentinel per partition). */
  records: number;
  /** From the consumer's start until the group committed past every sentinel (start-up included). */
  seconds: number;
  /** Records and seconds from the first time the group had committed 10% of them until the end. */
  sustained: { records: number; seconds: number };
}

const ratesOf = (t: Timing) => ({ overall: t.records / t.seconds, sustained: t.sustained.records / t.sustained.seconds });

/** Waits until the group has committed past every sentinel, watching its committed offsets every 100 ms. */
async function waitPast(kafka: Kafka, groupId: string, start: Map<number, string>, sentinels: Map<number, bigint>, started: bigint): Promise<Timing> {
  const admin = kafka.admin();
  await admin.connect();
  const total = EVENTS + sentinels.size;
  let warm: { at: bigint; records: number } | undefined;
  try {
    for (;;) {
      const committed = (await admin.fetchOffsets({ groupId, topics: [TOPICS.events] }))[0]!.partitions;
      const now = process.hrtime.bigint();
      const done = committed.reduce((sum, p) => sum + Math.max(0, Number(BigInt(p.offset) - BigInt(start.get(p.partition) ?? p.offset))), 0);
      if (!warm && done >= total / 10) warm = { at: now, records: done };
      if (committed.every((p) => BigInt(p.offset) > (sentinels.get(p.partition) ?? -1n))) {
        const from = warm ?? { at: started, records: 0 };
        return { records: total, seconds: Number(now - started) / 1e9, sustained: { records: total - from.records, seconds: Math.max(1e-3, Number(now - from.at) / 1e9) } };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

async function baseline(h: IngestHarness, start: Map<number, string>, sentinels: Map<number, bigint>): Promise<Timing> {
  const groupId = uniqueName('bench-baseline');
  await startGroupAt(h.kafka, groupId, start);
  const docs = h.mongo.db.collection<{ _id: string; key?: string; event: unknown }>(`bench_baseline_${run.replace(/[^a-z0-9]/gi, '_')}`);
  const consumer = h.kafka.consumer({ groupId, sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPICS.events });
  const started = process.hrtime.bigint();
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      const records = batch.messages.map((m) => ({ _id: `${batch.partition}@${m.offset}`, key: m.key?.toString(), event: JSON.parse(m.value!.subarray(5).toString()) as unknown }));
      if (records.length) await docs.insertMany(records, { ordered: false });
      for (const m of batch.messages) resolveOffset(m.offset);
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(BigInt(batch.lastOffset()) + 1n) }] }] });
    },
  });
  const timing = await waitPast(h.kafka, groupId, start, sentinels, started);
  await consumer.disconnect();
  await docs.drop();
  return timing;
}

function logFile(name: string): number {
  mkdirSync(path.join(REPO_ROOT, 'test-output'), { recursive: true });
  return openSync(path.join(REPO_ROOT, 'test-output', `${name}.log`), 'a');
}

async function main(): Promise<void> {
  const h = await startIngestHarness({ LOG_LEVEL: 'warn' });
  const definitions = new MongoCriteriaDefinitions(h.mongo.db);
  await definitions.init();
  for (let k = 0; k < BADGES; k++) {
    await definitions.put(h.tenant, criteriaFor(k));
    await definitions.activate(h.tenant, badgeClass(k), 1);
  }
  const schemaIds = await registerValueSchemas(h.registry, loadKafkaValueSchemas());
  const log = new KafkaEventLog({ kafka: h.kafka, valueSchemaIds: schemaIds, logger: createLogger('bench', 'error'), metrics: createMetricsRegistry('bench'), instanceId: `${run}-producer` });

  const start = await endOffsets(h.kafka, TOPICS.events);
  const events = Array.from({ length: EVENTS }, (_, n) => streamEvent('stream', n));
  for (let c = 0; c < events.length; c += 2000) {
    await log.publish(events.slice(c, c + 2000).map((event) => ({ topic: TOPICS.events, key: `${h.tenant}|${learnerOf(event)}`, value: event, headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': event.id as string, 'caliper-data-version': 'v1p2', 'badgestream-received-at': new Date().toISOString() } })));
  }
  const sentinels = await writeSentinels(h, schemaIds.get(TOPICS.events)!, start.keys());
  console.log(`bench:criteria: ${EVENTS} events for ${LEARNERS} learners, ${BADGES} active criteria, ${start.size} partitions (run ${run})`);

  const baselineTiming = await baseline(h, start, sentinels);

  const groupId = uniqueName('bench-criteria');
  await startGroupAt(h.kafka, groupId, start);
  const port = await freePort();
  const env = { ...process.env, CRITERIA_GROUP_ID: groupId, CRITERIA_INSTANCE_ID: `${run}-criteria`, CRITERIA_PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(process.execPath, [...NODE_ARGS, path.join(REPO_ROOT, 'bin/badgestream.js'), 'serve', 'criteria'], { env, stdio: ['ignore', logFile(`${run}-criteria`), logFile(`${run}-criteria`)] });
  try {
    const criteriaTiming = await waitPast(h.kafka, groupId, start, sentinels, started);
    const rate = { baseline: ratesOf(baselineTiming), criteria: ratesOf(criteriaTiming) };
    const widths = [34, 10, 14, 22];
    console.log(formatRow(['', 'seconds', 'events/s', 'sustained events/s'], widths));
    console.log(formatRow(['baseline (insertMany, bare driver)', baselineTiming.seconds, rate.baseline.overall, rate.baseline.sustained], widths));
    console.log(formatRow(['criteria consumer (20 criteria)', criteriaTiming.seconds, rate.criteria.overall, rate.criteria.sustained], widths));
    const ratio = (a: number, b: number) => `${((100 * a) / b).toFixed(1)} %`;
    console.log(`ratio criteria/baseline, sustained (after the first 10% of the records): ${ratio(rate.criteria.sustained, rate.baseline.sustained)} (target ≥ 50 %); with start-up: ${ratio(rate.criteria.overall, rate.baseline.overall)}`);

    // Latency at half the sustained rate: written to caliper.events as the ingest service writes
    // it (the target's measure), then posted through the ingest API.
    const target = LATENCY_RATE ?? rate.criteria.sustained / 2;
    for (const via of LATENCY_VIA) console.log(await latency(h, log, via, target));
    console.log(await whereTimeWent(port));
  } finally {
    // Stopped before the next run can start: a stopping service still flushes and records.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    // Retired, so that criteria groups started later have no reason to evaluate this history,
    // and the group's progress dropped: each run has a group of its own.
    for (let k = 0; k < BADGES; k++) await definitions.retire(h.tenant, badgeClass(k), 1).catch(() => undefined);
    await new MongoLearnerProgress(h.mongo.db, groupId).forget();
    await log.close();
    await h.close();
  }
}

/**
 * Posts fresh learners' events at `target` events/s for LATENCY_SECONDS, each envelope on schedule
 * (at most POSTS_IN_FLIGHT unanswered), written to caliper.events with the headers the ingest
 * service writes (`kafka`) or through the ingest API (`ingest`); returns the latencies from each
 * awarding event's receipt to its Demonstrated.
 */
async function latency(h: IngestHarness, log: KafkaEventLog, via: 'kafka' | 'ingest', target: number): Promise<string> {
  const latencyStart = await endOffsets(h.kafka, TOPICS.events);
  const perEnvelope = 10;
  const envelopes = Math.max(1, Math.round((target * LATENCY_SECONDS) / perEnvelope));
  const intervalMs = (1000 * perEnvelope) / target;
  const posted = new Set<string>();
  const expected = new ExpectedAwards();
  let n = 0;
  // Envelopes leave on schedule, each at its time whatever the answers to those before it
  // (at most POSTS_IN_FLIGHT unanswered), so the rate offered is the rate asked for.
  const inFlight = new Set<Promise<void>>();
  const t0 = Date.now();
  for (let e = 0; e < envelopes; e++) {
    const wait = t0 + e * intervalMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inFlight.size >= POSTS_IN_FLIGHT) await Promise.race(inFlight);
    // Fresh learners, the same stream as above.
    const batch = Array.from({ length: perEnvelope }, () => {
      const event = streamEvent(`latency-${via}`, n++);
      posted.add(event.id as string);
      expected.see(event);
      return event;
    });
    const request = via === 'kafka'
      ? log.publish(batch.map((event) => ({ topic: TOPICS.events, key: `${h.tenant}|${learnerOf(event)}`, value: event, headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': event.id as string, 'caliper-data-version': 'v1p2', 'badgestream-received-at': new Date().toISOString() } }))).then(() => undefined)
      : h.post(envelopeOf(batch)).then((response) => {
          if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${JSON.stringify(response.body)}`);
        });
    const tracked = request.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);
  const offered = n / ((Date.now() - t0) / 1000);
  const latencies = await demonstratedLatencies(h, latencyStart, posted, expected.causes);
  const p = (values: number[], q: number) => percentile([...values].sort((a, b) => a - b), q).toFixed(0);
  const total = latencies.map((l) => l.ingest + l.criteria);
  return (
    `latency ${via === 'kafka' ? 'from the write to caliper.events' : 'through the ingest API'} → Demonstrated at ${target.toFixed(0)} events/s asked (${offered.toFixed(0)} offered) for ${LATENCY_SECONDS} s: ${latencies.length} awards, ` +
      `p50 ${p(total, 50)} ms, p99 ${p(total, 99)} ms (target p99 < 1000 ms); of which ${via === 'kafka' ? 'the write (sent' : 'ingest (received'} → its record's Kafka timestamp) p50 ${p(latencies.map((l) => l.ingest), 50)} ms, p99 ${p(latencies.map((l) => l.ingest), 99)} ms`
  );
}

/** The service's own account of where a slice's time went, from its /metrics (means over the whole run). */
async function whereTimeWent(port: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // A sample of `name` whose labels include `labels` (the registry may add default labels).
  const sample = (name: string, labels: string): number => {
    for (const line of text.split('\n')) {
      const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match?.[1] === name && (match[2] ?? '').includes(labels)) return Number(match[3]);
    }
    return NaN;
  };
  const mean = (metric: string, labels: string): string => {
    const count = sample(`${metric}_count`, labels);
    return count > 0 ? `${((1000 * sample(`${metric}_sum`, labels)) / count).toFixed(1)} ms × ${count}` : 'none';
  };
  const steps = ['history', 'state', 'apply', 'outbox'].map((step) => `${step} ${mean('badgestream_criteria_slice_step_seconds', `step="${step}"`)}`);
  const loads = ['load', 'backfill'].map((kind) => `${kind} ${mean('badgestream_criteria_partition_load_seconds', `kind="${kind}"`)}`);
  return `criteria service, mean per slice: ${steps.join(', ')}; partitions taken over: ${loads.join(', ')}; effects published in ${mean('badgestream_outbox_delivery_seconds', 'target="kafka",outcome="delivered"')}, batches recorded in ${mean('badgestream_outbox_record_seconds', '')}`;
}

/**
 * Reads caliper.events from `from` until every event in `causes` has its Demonstrated; for each,
 * the time from ingest receiving the cause to the cause's record in Kafka (ingest), and from there
 * to the Demonstrated record (criteria). A Demonstrated caused by another of the `posted` events is an
 * award the bench did not expect, and is reported.
 */
async function demonstratedLatencies(h: IngestHarness, from: Map<number, string>, posted: ReadonlySet<string>, causes: ReadonlySet<string>): Promise<{ ingest: number; criteria: number }[]> {
  const receivedAt = new Map<string, number>();
  const writtenAt = new Map<string, number>();
  const demonstrated = new Map<string, number>();
  let unexpected = 0;
  const consumer = h.kafka.consumer({ groupId: uniqueName('bench-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPICS.events });
  const deadline = Date.now() + 120_000;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value!.subarray(5).toString()) as { id: string; action: string; extensions?: { badgestream?: { causedBy?: string } } };
      if (causes.has(event.id)) {
        receivedAt.set(event.id, Date.parse(message.headers?.['badgestream-received-at']?.toString() ?? ''));
        writtenAt.set(event.id, Number(message.timestamp));
      }
      const causedBy = event.extensions?.badgestream?.causedBy;
      if (event.action !== 'Demonstrated' || !causedBy) return;
      if (causes.has(causedBy)) demonstrated.set(causedBy, Number(message.timestamp));
      else if (posted.has(causedBy)) unexpected++;
      if (demonstrated.size >= causes.size) done();
    },
  });
  for (const [partition, offset] of from) consumer.seek({ topic: TOPICS.events, partition, offset });
  await Promise.race([finished, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
  await consumer.disconnect();
  if (demonstrated.size < causes.size) console.log(`only ${demonstrated.size} of ${causes.size} expected Demonstrated events arrived within 120 s`);
  if (unexpected > 0) console.log(`${unexpected} Demonstrated events from causes the bench did not expect`);
  return [...demonstrated].filter(([cause]) => receivedAt.has(cause)).map(([cause, at]) => ({ ingest: writtenAt.get(cause)! - receivedAt.get(cause)!, criteria: at - writtenAt.get(cause)! }));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
