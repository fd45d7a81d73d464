/**
 * The embedded mode, killed: `badgestream start` (every service in one process, no Kafka or
 * MongoDB) is killed with SIGKILL several times while sensors post a stream of graded attempts,
 * and started again on the same data directory. Sensors retry what was not acknowledged, as the
 * Sensor API asks them to. At the end: every acknowledged event is in the log, the awards held
 * and announced are exactly what the pure engine computes from the events, each announced once,
 * and the issuer's figures count each event once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateHistory } from '@badgestream/criteria';
import { EmbeddedBackend, MongoLearnerProgress, MongoOutbox, TOPICS, progressKey } from '@badgestream/platform';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { REPO_ROOT, envelopeOf, uniqueName } from '../support/ingest.js';
import { gradeEvent } from '../support/events.js';
import { courseBadge, courseCriteria, courseIri } from '../support/criteria-stream.js';
import { freePort } from '../support/net.js';
import { seededRandom } from '../support/random.js';

const EVENTS = Number(process.env.EMBEDDED_CRASH_EVENTS ?? 4000);
const LEARNERS = 120;
const BADGES = 4;
const KILLS = 3;
const PER_ENVELOPE = 20;
const SEED = Number(process.env.EMBEDDED_CRASH_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(SEED);
const run = uniqueName('embedded-crash');
const TENANT = 'local';

const dataDir = mkdtempSync(path.join(tmpdir(), 'badgestream-crash-'));
let ports: Record<'ingest' | 'criteria' | 'reporting' | 'relay', number>;
let child: ChildProcess | undefined;
let tokens: Record<string, string>;

/** The environment of the embedded mode: no Kafka, no MongoDB. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BADGESTREAM_DATA_DIR: dataDir, LOG_LEVEL: 'warn', CRITERIA_REFRESH_MS: '300', CRITERIA_FLUSH_MS: '200' };
  delete env.KAFKA_BROKERS;
  delete env.MONGODB_URI;
  for (const [service, port] of Object.entries(ports)) env[`${service.toUpperCase()}_PORT`] = String(port);
  return env;
}

function start(): void {
  mkdirSync(path.join(REPO_ROOT, 'test-output'), { recursive: true });
  const log = openSync(path.join(REPO_ROOT, 'test-output', `${run}.log`), 'a');
  child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/badgestream.js'), 'start'], { env: embeddedEnv(), stdio: ['ignore', log, log] });
}

async function ready(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await fetch(`http://127.0.0.1:${ports.ingest}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error(`badgestream start did not get ready in ${timeoutMs} ms: see test-output/${run}.log`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const stopped = () => new Promise<void>((resolve) => (child && child.exitCode === null && child.signalCode === null ? child.once('exit', () => resolve()) : resolve()));

async function call(service: keyof typeof ports, method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${ports[service]}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function streamEvent(): Record<string, unknown> {
  const l = Math.floor(random() * LEARNERS);
  const k = Math.floor(random() * BADGES);
  const q = Math.floor(random() * 5);
  const quiz = `${courseIri(run, k)}/quizzes/${q}`;
  const eventTime = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 300 * 86_400_000)).toISOString();
  return gradeEvent(`https://example.edu/users/${run}-${l}`, { assignable: quiz, attempt: `${quiz}/attempts/${run}-${l}`, scoreGiven: Math.floor(random() * 11), maxScore: 10, eventTime });
}

beforeAll(async () => {
  ports = { ingest: await freePort(), criteria: await freePort(), reporting: await freePort(), relay: await freePort() };
  start();
  await ready();
  // The first start made tenant `local` and its keys.
  tokens = Object.fromEntries(
    readFileSync(path.join(dataDir, 'first-keys.txt'), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/\s+/) as [string, string]),
  );
  for (let k = 0; k < BADGES; k++) {
    expect((await call('criteria', 'PUT', '/admin/criteria', tokens.admin!, courseCriteria(run, k))).status).toBe(201);
    expect((await call('criteria', 'POST', '/admin/criteria/activate', tokens.admin!, { badgeClass: courseBadge(run, k), version: 1 })).status).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await stopped();
  rmSync(dataDir, { recursive: true, force: true });
});

describe(`the embedded mode killed ${KILLS} times during a stream of ${EVENTS} events (seed ${SEED})`, () => {
  it('loses no acknowledged event and doubles no award', { timeout: 10 * 60_000 }, async () => {
    const events = Array.from({ length: EVENTS }, () => streamEvent());
    const envelopes = Array.from({ length: Math.ceil(EVENTS / PER_ENVELOPE) }, (_, i) => events.slice(i * PER_ENVELOPE, (i + 1) * PER_ENVELOPE));
    const acknowledged = new Set<string>();
    let next = 0;
    // Sensors: each posts envelopes one after another, and retries one until it is acknowledged.
    const sensor = async () => {
      for (let i = next++; i < envelopes.length; i = next++) {
        for (;;) {
          const status = await fetch(`http://127.0.0.1:${ports.ingest}/caliper`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens.sensor}`, 'content-type': 'application/json' },
            body: JSON.stringify(envelopeOf(envelopes[i]!)),
          }).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 200) break;
          expect([0, 503]).toContain(status);
          await new Promise((r) => setTimeout(r, 200));
        }
        for (const e of envelopes[i]!) acknowledged.add(e.id as string);
        // Paced, so the stream lasts through the kills.
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    let kills = 0;
    let streaming = true;
    let killedWhileStreaming = 0;
    const killer = (async () => {
      while (kills < KILLS) {
        await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
        if (streaming) killedWhileStreaming++;
        child!.kill('SIGKILL');
        await stopped();
        kills++;
        start();
      }
    })();
    await Promise.all([sensor(), sensor(), sensor(), sensor()]);
    streaming = false;
    await killer;
    await ready();
    expect(killedWhileStreaming, 'kills while the stream went on').toBeGreaterThanOrEqual(2);
    expect(acknowledged.size).toBe(EVENTS);

    // Drained: nothing behind in any consumer, nothing waiting in the outbox.
    const deadline = Date.now() + 5 * 60_000;
    for (;;) {
      const lags = await Promise.all(
        (['criteria', 'reporting', 'relay'] as const).map(async (service) => {
          const text = await (await fetch(`http://127.0.0.1:${ports[service]}/metrics`)).text();
          return [...text.matchAll(/^badgestream_consumer_lag\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
        }),
      );
      const pending = ((await call('criteria', 'GET', '/admin/deliveries?status=pending&limit=1', tokens.admin!)).body.deliveries as unknown[]).length;
      if (lags.every((l) => l === 0) && pending === 0) break;
      if (Date.now() > deadline) throw new Error(`not drained in 5 minutes: lag ${lags.join('/')}, ${pending} pending`);
      await new Promise((r) => setTimeout(r, 500));
    }

    // The issuer's figures count each acknowledged event once, retried posts and replays after kills included.
    const figures = await call('reporting', 'GET', '/reports/counts?from=2026-01-01&to=2027-01-01&groupBy=month&action=GradeEvent:Graded', tokens.reader!);
    expect(figures.status).toBe(200);
    expect((figures.body.totals as { events: number }[]).reduce((n, t) => n + t.events, 0)).toBe(EVENTS);

    // The operator's view of the log, read beside the running process.
    const tail = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/badgestream.js'), 'events', 'tail', '--from-beginning', '--tenant', TENANT, '--limit', '3'], {
      env: embeddedEnv(),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(tail.status, tail.stderr).toBe(0);
    const tailed = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { key: string; value: { id: string } });
    expect(tailed).toHaveLength(3);
    for (const r of tailed) expect(acknowledged.has(r.value.id), `${r.value.id} tailed`).toBe(true);

    child!.kill('SIGTERM');
    await stopped();
    const backend = EmbeddedBackend.open({ dataDir, fsync: true, partitions: 6, valueSchemas: loadKafkaValueSchemas() });
    try {
      // Every acknowledged event is in the log.
      const logged = new Set<string>();
      const announced = new Map<string, Set<string>>();
      for (let p = 0; p < backend.log.partitionCount(TOPICS.events); p++) {
        for (const r of backend.log.read(TOPICS.events, p, 0, Number.MAX_SAFE_INTEGER)) {
          const value = JSON.parse(r.value.toString('utf8')) as { id: string; type: string; action: string; extensions?: { badgestream?: { awardId?: string } } };
          logged.add(value.id);
          const awardId = value.extensions?.badgestream?.awardId;
          if (value.type === 'BadgeEvent' && value.action === 'Demonstrated' && awardId) announced.set(awardId, (announced.get(awardId) ?? new Set()).add(value.id));
        }
      }
      expect([...acknowledged].filter((id) => !logged.has(id))).toEqual([]);

      const expected = new Map<string, string>();
      const now = new Date().toISOString();
      for (let k = 0; k < BADGES; k++) {
        for (const [learner, outcome] of evaluateHistory(courseCriteria(run, k), events, { tenant: TENANT, now })) {
          if (outcome.award) expected.set(progressKey(TENANT, learner, courseBadge(run, k), 1), outcome.award.awardId);
        }
      }
      expect(expected.size).toBeGreaterThan(0);
      const db = backend.store.db();
      const held = new Map((await new MongoLearnerProgress(db, 'badgestream-criteria').allHolders(TENANT)).map(({ key, progress }) => [key, progress.award!.awardId]));
      expect(new Map([...held].sort())).toEqual(new Map([...expected].sort()));
      // Announced once: per award id, one more award than revocation in the ledger (an award revoked
      // after a regrade and earned again keeps its id).
      const balance = new Map<string, number>();
      const awards = new Map<string, number>();
      for (const e of await new MongoOutbox(db).effectsOf(TENANT)) {
        balance.set(e.awardId, (balance.get(e.awardId) ?? 0) + (e.kind === 'award' ? 1 : -1));
        if (e.kind === 'award') awards.set(e.awardId, (awards.get(e.awardId) ?? 0) + 1);
      }
      expect([...balance].filter(([, b]) => b !== 0 && b !== 1)).toEqual([]);
      expect(
        [...balance]
          .filter(([, b]) => b === 1)
          .map(([id]) => id)
          .sort(),
      ).toEqual([...expected.values()].sort());
      // Each award effect is on the log as one event: however often it was written after a kill, one id.
      expect(new Map([...announced].map(([id, events]): [string, number] => [id, events.size]).sort())).toEqual(new Map([...awards].sort()));
    } finally {
      await backend.close();
    }
  });
});
