/**
 * npm run bench:reporting — the reporting API's main queries on the real stack, against a plain
 * aggregation over the same events stored raw in MongoDB, in the same run.
 *
 * 1. BENCH_EVENTS events (default 1,000,000) of one tenant, over a year, 40 badge classes, are
 *    written to caliper.events as ingest writes them, and the same events (as documents holding the
 *    fields the queries group by, and the event as text) to a MongoDB collection.
 * 2. The reporting service (in this process, its group starting before the events) counts them:
 *    events per second from its start until its group has committed past every event.
 * 3. Counts by day for the year, the funnel of the most issued badge class, and the top 10 badge
 *    classes by Issued, each BENCH_QUERY_RUNS times through the HTTP API (p50/p95), and
 *    BENCH_BASELINE_RUNS times as aggregations over the raw events (p50/p95); the answers of both
 *    are compared, and the speed-up printed.
 */
import { MongoTenantDirectory, connectMongo } from '@badgestream/platform';
import { startGroupAt } from '../support/criteria-stream.js';
import { requireStack, uniqueName } from '../support/stack.js';
import { generateHistory, produceHistory, type GeneratedEvent } from '../support/reporting-history.js';
import { databaseUri, eventsSchemaId, getReport, stackKafka, startReportingOn, waitUntilCounted } from '../support/reporting.js';
import { formatRow, percentile } from './stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const QUERY_RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 100);
const BASELINE_RUNS = Number(process.env.BENCH_BASELINE_RUNS ?? 2);
const CHUNK = 50_000;
const YEAR = { from: '2025-01-01', to: '2026-01-01' };
const YEAR_RANGE = { $gte: new Date('2025-01-01T00:00:00Z'), $lt: new Date('2026-01-01T00:00:00Z') };
const STAGES = ['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Verified', 'Accepted'];

async function timed<T>(runs: number, task: () => Promise<T>): Promise<{ ms: number[]; last: T }> {
  const ms: number[] = [];
  let last: T | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    last = await task();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: ms.sort((a, b) => a - b), last: last! };
}

async function main(): Promise<void> {
  const stack = await requireStack();
  const database = uniqueName('bench-reporting');
  const uri = databaseUri(stack.mongodbUri, database);
  const mongo = await connectMongo(uri);
  const directory = new MongoTenantDirectory(mongo.db);
  await directory.init();
  const tenant = uniqueName('bench');
  await directory.createTenant(tenant);
  const reader = (await directory.createKey(tenant, 'reader')).token;
  const raw = mongo.db.collection('bench_raw_events');
  const kafka = stackKafka(stack);
  const schemaId = await eventsSchemaId(stack);
  const groupId = uniqueName('bench-metrics');
  await startGroupAt(kafka, groupId);

  console.log(`bench:reporting — ${EVENTS.toLocaleString('en')} events of one tenant over 2025, 40 badge classes (database ${database})`);
  const loadStart = Date.now();
  let written = 0;
  const issuedByBadge = new Map<string, number>();
  for (let chunk = 0; written < EVENTS; chunk++) {
    const events: GeneratedEvent[] = generateHistory({ tenant, events: Math.min(CHUNK, EVENTS - written), seed: 1000 + chunk, badgeClasses: 40, issuers: 5, learners: 2_000 }).slice(0, EVENTS - written);
    for (const e of events) if (e.known.action === 'Issued' && e.known.time < YEAR_RANGE.$lt.getTime()) issuedByBadge.set(e.known.badgeClass, (issuedByBadge.get(e.known.badgeClass) ?? 0) + 1);
    await Promise.all([
      produceHistory(kafka, schemaId, events),
      raw.insertMany(
        events.map((e) => ({
          tenant,
          action: e.known.action,
          badgeClass: e.known.badgeClass,
          recipient: e.known.recipient,
          time: new Date(e.known.time),
          day: new Date(e.known.time).toISOString().slice(0, 10),
          event: JSON.stringify(e.event),
        })),
        { ordered: false },
      ),
    ]);
    written += events.length;
    process.stdout.write(`\r  loaded ${written.toLocaleString('en')} events (Kafka and raw collection) in ${((Date.now() - loadStart) / 1000).toFixed(0)} s`);
  }
  console.log('');

  const started = Date.now();
  const reporting = await startReportingOn(stack, uri, groupId, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' });
  await waitUntilCounted(kafka, groupId, schemaId, 3_600_000);
  const rollupSeconds = (Date.now() - started) / 1000;
  console.log(`rollup consumer: ${EVENTS.toLocaleString('en')} events counted in ${rollupSeconds.toFixed(1)} s from its start = ${Math.round(EVENTS / rollupSeconds).toLocaleString('en')} events/s`);

  const topBadge = [...issuedByBadge].sort((a, b) => b[1] - a[1])[0]![0];
  const api = (path: string, params: Record<string, string>) => async () => {
    const answer = await getReport(reporting.url, `/reports/${path}`, reader, params);
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${answer.text}`);
    return answer.body.rows as Record<string, unknown>[];
  };
  type Rows = Record<string, unknown>[];
  const queries: { name: string; rollup: () => Promise<Rows>; baseline: () => Promise<Rows>; same: (rollup: Rows, baseline: Rows) => boolean }[] = [
    {
      name: 'counts by day, a year',
      rollup: api('counts', { ...YEAR, groupBy: 'day' }),
      baseline: async () =>
        (await raw.aggregate([{ $match: { tenant } }, { $match: { time: YEAR_RANGE } }, { $group: { _id: { day: '$day', action: '$action' }, events: { $sum: 1 } } }]).toArray())
          .map((d) => ({ bucket: `${(d._id as { day: string }).day}T00:00:00.000Z`, action: (d._id as { action: string }).action, events: d.events as number }))
          .sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.action < b.action ? -1 : a.action > b.action ? 1 : 0)),
      same: (a: Record<string, unknown>[], b: Record<string, unknown>[]) => JSON.stringify(a) === JSON.stringify(b),
    },
    {
      name: 'funnel of a badge class',
      rollup: api('funnel', { ...YEAR, badgeClass: topBadge }),
      baseline: async () => {
        const pairs = await raw.aggregate([{ $match: { tenant, badgeClass: topBadge } }, { $match: { time: YEAR_RANGE } }, { $group: { _id: { action: '$action', recipient: '$recipient' } } }]).toArray();
        const ids = pairs.map((p) => p._id as { action: string; recipient: string }).filter((p) => p.recipient !== '');
        return STAGES.map((stage) => ({ stage, recipients: ids.filter((p) => p.action === stage).length }));
      },
      same: (a: Record<string, unknown>[], b: Record<string, unknown>[]) => JSON.stringify(a.map((r) => ({ stage: r.stage, recipients: r.recipients }))) === JSON.stringify(b),
    },
    {
      name: 'top 10 badge classes by Issued',
      rollup: api('top-badges', { ...YEAR, by: 'Issued', limit: '10' }),
      baseline: async () =>
        (await raw.aggregate([{ $match: { tenant, action: 'Issued' } }, { $match: { time: YEAR_RANGE } }, { $group: { _id: '$badgeClass', value: { $sum: 1 } } }, { $sort: { value: -1, _id: 1 } }, { $limit: 10 }]).toArray()).map((d) => ({ badgeClass: d._id as string, value: d.value as number })),
      same: (a: Record<string, unknown>[], b: Record<string, unknown>[]) => JSON.stringify(a.map((r) => ({ badgeClass: r.badgeClass, value: r.value }))) === JSON.stringify(b),
    },
  ];

  const widths = [32, 12, 12, 16, 16, 10, 8];
  console.log(formatRow(['query', 'rollup p50', 'rollup p95', 'aggregation p50', 'aggregation p95', 'speed-up', 'same'], widths));
  for (const q of queries) {
    await timed(3, q.rollup);
    const rollup = await timed(QUERY_RUNS, q.rollup);
    const baseline = await timed(BASELINE_RUNS, q.baseline);
    const p = (ms: number[], n: number) => percentile(ms, n);
    console.log(
      formatRow(
        [q.name, `${p(rollup.ms, 50).toFixed(1)} ms`, `${p(rollup.ms, 95).toFixed(1)} ms`, `${p(baseline.ms, 50).toFixed(0)} ms`, `${p(baseline.ms, 95).toFixed(0)} ms`, `${Math.round(p(baseline.ms, 50) / p(rollup.ms, 50)).toLocaleString('en')}×`, q.same(rollup.last, baseline.last) ? 'yes' : 'NO'],
        widths,
      ),
    );
  }
  console.log(`(rollup: ${QUERY_RUNS} requests each through the HTTP API after 3 warm-ups; aggregation: ${BASELINE_RUNS} run(s) each over the raw events in MongoDB; speed-up = aggregation p50 / rollup p50)`);

  await reporting.close();
  await mongo.db.dropDatabase();
  await mongo.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
