/**
 * Nothing lost, nothing doubled: a stream of graded attempts for many learners and badge
 * classes goes through two criteria consumers in one group while they are killed with
 * SIGKILL at random moments and restarted. At the end the awards held equal exactly what the
 * pure engine computes from the same events, every award was announced once, and no learner
 * holds two awards of one badge class.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateHistory, type Criteria } from '@badgestream/criteria';
import { KafkaEventLog, MongoCriteriaDefinitions, MongoLearnerProgress, MongoOutbox, frameJson, TOPICS, createMetricsRegistry, createLogger, progressKey, registerValueSchemas } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { REPO_ROOT, endOffsets, startIngestHarness, uniqueName, type IngestHarness } from '../support/ingest.js';
import { gradeEvent, sessionEvent } from '../support/events.js';
import { requireStack } from '../support/stack.js';
import { courseBadge, courseCriteria, courseIri } from '../support/criteria-stream.js';
import { freePort } from '../support/net.js';
import { seededRandom } from '../support/random.js';

const EVENTS = Number(process.env.CHAOS_EVENTS ?? 100_000);
const LEARNERS = Number(process.env.CHAOS_LEARNERS ?? 1000);
const BADGES = Number(process.env.CHAOS_BADGES ?? 20);
const KILLS = Number(process.env.CHAOS_KILLS ?? 10);
const CHUNKS = 25;

const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
// Deterministic, so a failing run can be replayed with the same CHAOS_SEED.
const random = seededRandom(SEED);

const run = uniqueName('chaos');
const badgeClass = (k: number) => courseBadge(run, k);
const course = (k: number) => courseIri(run, k);
const quiz = (k: number, q: number) => `${course(k)}/quizzes/${q}`;
const learnerIri = (i: number) => `https://example.edu/users/${run}-${i}`;

const criteriaFor = (k: number): Criteria => courseCriteria(run, k);

function streamEvent(): Record<string, unknown> {
  const l = Math.floor(random() * LEARNERS);
  const k = Math.floor(random() * BADGES);
  const q = Math.floor(random() * 5);
  const scoreGiven = Math.floor(random() * 11);
  const eventTime = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 300 * 86_400_000)).toISOString();
  // The attempt is filed under its course, which the course's criteria select by IRI prefix.
  return gradeEvent(learnerIri(l), { assignable: quiz(k, q), attempt: `${quiz(k, q)}/attempts/${run}-${l}`, scoreGiven, maxScore: 10, eventTime });
}

let h: IngestHarness;
let env: NodeJS.ProcessEnv;
const groupId = uniqueName('criteria-chaos');
const instances: { name: string; port: number; child?: ChildProcess; processed: number }[] = [];

function logFile(name: string): number {
  mkdirSync(path.join(REPO_ROOT, 'test-output'), { recursive: true });
  return openSync(path.join(REPO_ROOT, 'test-output', `${name}.log`), 'a');
}

function startInstance(instance: (typeof instances)[number]): void {
  instance.child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/badgestream.js'), 'serve', 'criteria', '--port', String(instance.port)], {
    env: { ...env, CRITERIA_GROUP_ID: groupId, CRITERIA_INSTANCE_ID: instance.name, LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error', CRITERIA_REFRESH_MS: '500', CRITERIA_SESSION_TIMEOUT_MS: '6000' },
    // Logs of every run of the instance, for a failure's post-mortem.
    stdio: ['ignore', logFile(instance.name), logFile(instance.name)],
  });
}

function stopInstance(instance: (typeof instances)[number]): Promise<void> {
  const child = instance.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function scrapeProcessed(instance: (typeof instances)[number]): Promise<void> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
    const processed = [...text.matchAll(/^badgestream_consumer_records_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    instance.processed += processed;
  } catch {
    // not up (yet): nothing to add
  }
}

beforeAll(async () => {
  const stack = await requireStack();
  env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri };
  h = await startIngestHarness();
  const definitions = new MongoCriteriaDefinitions(h.mongo.db);
  await definitions.init();
  for (let k = 0; k < BADGES; k++) {
    await definitions.put(h.tenant, criteriaFor(k));
    await definitions.activate(h.tenant, badgeClass(k), 1);
  }
  for (const name of ['a', 'b']) instances.push({ name: `${run}-${name}`, port: await freePort(), processed: 0 });
});

afterAll(async () => {
  for (const i of instances) i.child?.kill('SIGKILL');
  // Retired, so that groups started later (other suites) have no reason to evaluate this history.
  if (h) {
    const definitions = new MongoCriteriaDefinitions(h.mongo.db);
    for (let k = 0; k < BADGES; k++) await definitions.retire(h.tenant, badgeClass(k), 1).catch(() => undefined);
  }
  await h?.close();
});

describe(`criteria consumers killed ${KILLS} times during a stream of ${EVENTS} events (seed ${SEED})`, () => {
  it('hold exactly the awards the engine computes from the events: none lost, none doubled', { timeout: 30 * 60_000 }, async () => {
    const events = Array.from({ length: EVENTS }, () => streamEvent());
    const now = new Date().toISOString();
    const expected = new Map<string, string>();
    for (let k = 0; k < BADGES; k++) {
      for (const [learner, outcome] of evaluateHistory(criteriaFor(k), events, { tenant: h.tenant, now })) {
        if (outcome.award) expected.set(progressKey(h.tenant, learner, badgeClass(k), 1), outcome.award.awardId);
      }
    }
    expect(expected.size).toBeGreaterThan(0);

    // The group starts at the end of the topic: only this stream is its concern.
    const admin = h.kafka.admin();
    await admin.connect();
    const start = await endOffsets(h.kafka, TOPICS.events);
    await admin.setOffsets({ groupId, topic: TOPICS.events, partitions: [...start].map(([partition, offset]) => ({ partition, offset })) });

    const metrics = createMetricsRegistry('chaos');
    const valueSchemaIds = await registerValueSchemas(h.registry, loadKafkaValueSchemas());
    const log = new KafkaEventLog({ kafka: h.kafka, valueSchemaIds, logger: createLogger('chaos', 'error'), metrics, instanceId: `${run}-producer` });
    for (const i of instances) startInstance(i);

    // The stream and the killing go on together.
    let kills = 0;
    let streaming = true;
    const killer = (async () => {
      while (KILLS > 0 && (streaming || kills < KILLS)) {
        // Past the group's session timeout (CRITERIA_SESSION_TIMEOUT_MS, 6 s here) on average, so the
        // group can hand the dead member's partitions over between kills.
        await new Promise((r) => setTimeout(r, 4000 + random() * 6000));
        const victim = instances[Math.floor(random() * instances.length)]!;
        await scrapeProcessed(victim);
        victim.child?.kill('SIGKILL');
        kills++;
        await new Promise((r) => setTimeout(r, 300));
        startInstance(victim);
      }
    })();
    const chunk = Math.ceil(EVENTS / CHUNKS);
    for (let c = 0; c < EVENTS; c += chunk) {
      await log.publish(
        events.slice(c, c + chunk).map((event) => {
          const learner = ((event.object as { assignee: { id: string } }).assignee).id;
          return { topic: TOPICS.events, key: `${h.tenant}|${learner}`, value: event, headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': event.id as string, 'caliper-data-version': 'v1p2' } };
        }),
      );
      await new Promise((r) => setTimeout(r, (KILLS * 7000) / CHUNKS));
    }
    streaming = false;
    await killer;
    await log.close();
    expect(kills).toBeGreaterThanOrEqual(KILLS);

    // Drained: the group has committed past a sentinel record written to every partition after the
    // stream (offsets alone cannot tell: aborted transactions of killed publishers leave records no
    // read_committed consumer ever receives), and the outbox has nothing pending.
    const sentinels = new Map<number, bigint>();
    const producer = h.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (const partition of start.keys()) {
      // An event no criteria cares about.
      const sentinel = sessionEvent(`https://example.edu/users/${run}-sentinel-${partition}`);
      const [meta] = await producer.send({
        topic: TOPICS.events,
        acks: -1,
        messages: [{ partition, key: `${h.tenant}|sentinel-${partition}`, value: frameJson(valueSchemaIds.get(TOPICS.events)!, sentinel), headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': sentinel.id } }],
      });
      sentinels.set(partition, BigInt(meta!.baseOffset!));
    }
    await producer.disconnect();
    // The outbox's deliveries not yet done, and those done.
    const undelivered = h.mongo.db.collection<{ _id: string; tenant: string; status: string }>('criteria_outbox_pending');
    const delivered = h.mongo.db.collection<{ _id: string; tenant: string; status: string }>('criteria_outbox_done');
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('the criteria consumers did not drain the stream in 15 minutes');
      await new Promise((r) => setTimeout(r, 2000));
      const committed = (await admin.fetchOffsets({ groupId, topics: [TOPICS.events] }))[0]!.partitions;
      const waiting = committed.filter((p) => BigInt(p.offset) <= (sentinels.get(p.partition) ?? -1n)).length;
      const pending = await undelivered.countDocuments({ tenant: h.tenant, status: 'pending' });
      console.error(`chaos: ${kills} kills; ${waiting} partitions short of their sentinel; ${pending} effects pending`);
      if (waiting === 0 && pending === 0) break;
    }
    await admin.disconnect();
    for (const i of instances) await scrapeProcessed(i);
    // Both instances of the group did part of the work.
    for (const i of instances) expect(i.processed, `records processed by ${i.name}`).toBeGreaterThan(0);
    // A graceful stop writes the progress held in memory to MongoDB.
    await Promise.all(instances.map((i) => stopInstance(i)));

    // The awards announced are exactly the expected ones: per award id, one more award than end.
    // The ledger: every effect emitted.
    const effects = await new MongoOutbox(h.mongo.db).effectsOf(h.tenant);
    const balance = new Map<string, number>();
    for (const e of effects) balance.set(e.awardId, (balance.get(e.awardId) ?? 0) + (e.kind === 'award' ? 1 : -1));
    const announced = [...balance].filter(([, b]) => b === 1).map(([awardId]) => awardId);
    expect(announced.sort()).toEqual([...expected.values()].sort());

    // The awards held in the progress documents are exactly the expected ones.
    const held = new Map<string, string>();
    for (const { key, progress } of await new MongoLearnerProgress(h.mongo.db, groupId).allHolders(h.tenant)) held.set(key, progress.award!.awardId);
    expect(held.size).toBe(expected.size);
    // The stream is long enough for the snapshots to be rotated into new collections (see
    // MongoLearnerProgress) in some partition, kills and all: the checkpoint names a collection
    // started after the partition's first flush.
    const checkpoints = await h.mongo.db.collection<{ since?: number; gen: number }>('criteria_checkpoints').find({ group: groupId }).toArray();
    expect(checkpoints.some((c) => c.since !== undefined && c.since > 1), `rotated checkpoints: ${JSON.stringify(checkpoints.map((c) => c.since))}`).toBe(true);
    expect(new Map([...held].sort())).toEqual(new Map([...expected].sort()));

    // Every award was announced and none doubled: per award id, the award effects and the effects
    // that ended it (revoke, expire) alternate, so it is held exactly when one more award than end
    // was announced. (An award withdrawn by a late event and later earned again under the same id
    // is announced again, with a new effect id.) Everything was delivered.
    const heldIds = new Set(held.values());
    for (const [awardId, b] of balance) expect(b, `award ${awardId}: awards minus ends`).toBe(heldIds.has(awardId) ? 1 : 0);
    for (const awardId of heldIds) expect(balance.get(awardId), `award ${awardId} was announced`).toBe(1);
    expect(await undelivered.countDocuments({ tenant: h.tenant })).toBe(0);
    const done = await delivered.find({ tenant: h.tenant }).toArray();
    expect(new Set(done.map((e) => e._id))).toEqual(new Set(effects.map((e) => e.id)));
    expect(done.every((e) => e.status === 'done')).toBe(true);
  });
});
