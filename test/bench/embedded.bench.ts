/**
 * npm run bench:embedded — the whole of Badgestream in one process (`badgestream start`), in the
 * embedded mode against the same on the local stack (Kafka, the schema registry, MongoDB) as the
 * baseline, in the same run and with the same stream.
 *
 * For each mode: BENCH_EVENTS graded attempts of a course stream (the criteria of
 * test/support/criteria-stream.ts, BENCH_BADGES courses) are POSTed to ingest by sensors, 50
 * events per envelope, BENCH_SENSORS envelopes in flight. Figures: events/s acknowledged by
 * ingest, and events/s end to end (from the first POST until criteria has nothing left to read
 * and reporting has counted every event), with the awards announced. Then the ratios
 * embedded/Kafka.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from 'mongodb';
import { MongoTenantDirectory, connectMongo, type MongoConnection } from '@badgestream/platform';
import { startBadgestream } from '@badgestream/cli';
import { courseBadge, courseCriteria, courseIri, startGroupAt } from '../support/criteria-stream.js';
import { envelopeOf, uniqueName } from '../support/ingest.js';
import { gradeEvent } from '../support/events.js';
import { seededRandom } from '../support/random.js';
import { databaseUri, stackKafka } from '../support/reporting.js';
import { requireStack } from '../support/stack.js';
import { runConcurrently } from './stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const BADGES = Number(process.env.BENCH_BADGES ?? 10);
const LEARNERS = Number(process.env.BENCH_LEARNERS ?? 500);
const SENSORS = Number(process.env.BENCH_SENSORS ?? 8);
const PER_ENVELOPE = 50;

interface Result {
  mode: string;
  ingestSeconds: number;
  endToEndSeconds: number;
  awards: number;
}

function stream(run: string): Record<string, unknown>[] {
  const random = seededRandom(42);
  return Array.from({ length: EVENTS }, () => {
    const l = Math.floor(random() * LEARNERS);
    const k = Math.floor(random() * BADGES);
    const quiz = `${courseIri(run, k)}/quizzes/${Math.floor(random() * 5)}`;
    const eventTime = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 300 * 86_400_000)).toISOString();
    return gradeEvent(`https://example.edu/users/${run}-${l}`, { assignable: quiz, attempt: `${quiz}/attempts/${run}-${l}`, scoreGiven: Math.floor(random() * 11), maxScore: 10, eventTime });
  });
}

async function json(url: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Records of caliper.events a service's consumer group has committed, by its metrics. */
async function consumed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^badgestream_consumer_records_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function measure(mode: 'embedded' | 'kafka'): Promise<Result> {
  const run = uniqueName(`bench-${mode}`);
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', INGEST_PORT: '0', CRITERIA_PORT: '0', REPORTING_PORT: '0', RELAY_PORT: '0' };
  let dataDir: string | undefined;
  let mongo: MongoConnection | undefined;
  if (mode === 'embedded') {
    dataDir = mkdtempSync(path.join(tmpdir(), 'badgestream-bench-'));
    env.BADGESTREAM_DATA_DIR = dataDir;
  } else {
    const stack = await requireStack();
    const uri = databaseUri(stack.mongodbUri, run.replace(/[^a-z0-9]/g, '_'));
    Object.assign(env, { KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: uri });
    // Groups of their own, starting at the end of caliper.events: only this run's events are theirs.
    for (const [variable, group] of [
      ['CRITERIA_GROUP_ID', `${run}-criteria`],
      ['REPORTING_GROUP_ID', `${run}-reporting`],
      ['RELAY_GROUP_ID', `${run}-relay`],
    ] as const) {
      env[variable] = group;
      await startGroupAt(stackKafka(stack), group);
    }
    mongo = await connectMongo(uri);
  }
  const running = await startBadgestream(env);
  try {
    const db: Db = running.embedded ? running.embedded.store.db() : mongo!.db;
    const directory = new MongoTenantDirectory(db);
    await directory.init();
    const tenant = run.slice(0, 40).replace(/[^a-z0-9-]/g, '-');
    await directory.createTenant(tenant);
    const [sensor, admin, reader] = await Promise.all((['sensor', 'admin', 'reader'] as const).map(async (scope) => (await directory.createKey(tenant, scope)).token));
    for (let k = 0; k < BADGES; k++) {
      await json(`${running.urls.criteria}/admin/criteria`, admin!, { method: 'PUT', body: JSON.stringify(courseCriteria(run, k)) });
      const activated = await json(`${running.urls.criteria}/admin/criteria/activate`, admin!, { method: 'POST', body: JSON.stringify({ badgeClass: courseBadge(run, k), version: 1 }) });
      if (activated.status !== 200) throw new Error(`activation refused: ${JSON.stringify(activated.body)}`);
    }
    // Active criteria are picked up within CRITERIA_REFRESH_MS (5 s).
    await new Promise((r) => setTimeout(r, 5500));

    const events = stream(run);
    const envelopes = Array.from({ length: Math.ceil(EVENTS / PER_ENVELOPE) }, (_, i) => envelopeOf(events.slice(i * PER_ENVELOPE, (i + 1) * PER_ENVELOPE)));
    const t0 = process.hrtime.bigint();
    const { seconds: ingestSeconds } = await runConcurrently(envelopes.length, SENSORS, async (i) => {
      const r = await fetch(`${running.urls.ingest}/caliper`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sensor}`, 'content-type': 'application/json' },
        body: JSON.stringify(envelopes[i]),
      });
      if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
    });
    let awards = 0;
    let last = -1;
    const deadline = Date.now() + Number(process.env.BENCH_DRAIN_SECONDS ?? 900) * 1000;
    for (;;) {
      const counts = await json(`${running.urls.reporting}/reports/counts?from=2026-01-01&to=2027-01-01&groupBy=month&action=GradeEvent:Graded,Demonstrated`, reader!);
      const totals = (counts.body.totals ?? []) as { action: string; events: number }[];
      const graded = totals.find((t) => t.action === 'GradeEvent:Graded')?.events ?? 0;
      awards = totals.find((t) => t.action === 'Demonstrated')?.events ?? 0;
      const pending = ((await json(`${running.urls.criteria}/admin/deliveries?status=pending&limit=1`, admin!)).body.deliveries as unknown[]).length;
      // Drained: every event counted, every award published, and criteria and reporting (whose groups
      // started at the same place) have committed the same records, badge events included, twice running.
      const records = [await consumed(running.urls.criteria), await consumed(running.urls.reporting)];
      const settled = graded >= EVENTS && pending === 0 && records[0] === records[1];
      if (settled && records[0] === last) break;
      last = settled ? records[0]! : -1;
      if (Date.now() > deadline) throw new Error(`${mode}: not drained in time: ${graded} events counted, ${pending} deliveries pending, records committed ${records.join('/')} (criteria/reporting)`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const endToEndSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const counted = await json(`${running.urls.reporting}/reports/counts?from=2026-01-01&to=2027-01-01&groupBy=month&action=Demonstrated`, reader!);
    awards = ((counted.body.totals ?? []) as { events: number }[]).reduce((n, t) => n + t.events, 0);
    return { mode, ingestSeconds, endToEndSeconds, awards };
  } finally {
    await running.close();
    if (mongo) {
      await mongo.db.dropDatabase().catch(() => undefined);
      await mongo.close();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`bench:embedded: ${EVENTS} graded attempts of ${LEARNERS} learners in ${BADGES} courses, ${PER_ENVELOPE} per envelope, ${SENSORS} envelopes in flight; every service in one process`);
  const embedded = await measure('embedded');
  const kafka = await measure('kafka');
  const row = (r: Result) =>
    `${r.mode.padStart(28)} ${(EVENTS / r.ingestSeconds).toFixed(0).padStart(12)} ${(EVENTS / r.endToEndSeconds).toFixed(0).padStart(14)} ${r.endToEndSeconds.toFixed(1).padStart(10)} ${String(r.awards).padStart(8)}`;
  console.log(`${''.padStart(28)} ${'ingest ev/s'.padStart(12)} ${'end-to-end ev/s'.padStart(14)} ${'seconds'.padStart(10)} ${'awards'.padStart(8)}`);
  console.log(row(embedded));
  console.log(row({ ...kafka, mode: 'Kafka + MongoDB (baseline)' }));
  console.log(
    `ratio embedded/Kafka: ingest ${((kafka.ingestSeconds / embedded.ingestSeconds) * 100).toFixed(1)} %, end to end ${((kafka.endToEndSeconds / embedded.endToEndSeconds) * 100).toFixed(1)} %`,
  );
  if (embedded.awards !== kafka.awards) console.log(`the modes announced different numbers of awards: embedded ${embedded.awards}, Kafka ${kafka.awards}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
