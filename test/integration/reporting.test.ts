import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import addFormats from 'ajv-formats';
import { MongoTenantDirectory } from '@badgestream/platform';
import { uuidV5 } from '@badgestream/criteria';
import { XAPI_NAMESPACE, loadReportingConfig, startReporting, type RunningReporting } from '@badgestream/reporting';
import { envelopeOf } from '../support/ingest.js';
import { uniqueName } from '../support/stack.js';
import { badgeClassIri, generateHistory, ingestHeaders, issuerIri, type GeneratedEvent } from '../support/reporting-history.js';
import { Expected } from '../support/reporting-expected.js';
import { getReport, parseCsv } from '../support/reporting.js';
import { MODES, startDeployment, startIngestOf, type Deployment, type IngestOf } from '../support/deployment.js';

/**
 * Reporting, on the real stack and embedded: a generated history of over 200,000 events of one tenant (and a
 * smaller one of another tenant using the same badge class, issuer and learner IRIs), written to
 * caliper.events as ingest writes them, plus a few events through the ingest API. Every figure of
 * every query is compared with the figure computed from the generated events; then the events are
 * delivered again (copies at new offsets, and the whole range replayed) and every figure must stay
 * the same.
 */

const YEAR = { from: '2025-01-01', to: '2026-01-01' };

/** The queries checked, each against the independent computation. */
const QUERIES: { path: string; params: Record<string, string>; expect: (e: Expected) => Record<string, unknown> }[] = [
  { path: 'counts', params: { ...YEAR, groupBy: 'month' }, expect: (e) => e.counts({ ...YEAR, groupBy: 'month' }) },
  { path: 'counts', params: { ...YEAR, groupBy: 'day', distinct: 'true' }, expect: (e) => e.counts({ ...YEAR, groupBy: 'day', distinct: 'true' }) },
  {
    path: 'counts',
    params: { from: '2025-03-01', to: '2025-06-01', groupBy: 'week', issuer: issuerIri(1), distinct: 'true' },
    expect: (e) => e.counts({ from: '2025-03-01', to: '2025-06-01', groupBy: 'week', issuer: issuerIri(1), distinct: 'true' }),
  },
  {
    path: 'counts',
    params: { from: '2025-05-01T00:00:00Z', to: '2025-05-04T06:00:00Z', groupBy: 'hour', action: 'Issued,Shared,Assigned', badgeClass: badgeClassIri(0) },
    expect: (e) => e.counts({ from: '2025-05-01T00:00:00Z', to: '2025-05-04T06:00:00Z', groupBy: 'hour', action: 'Issued,Shared,Assigned', badgeClass: badgeClassIri(0) }),
  },
  {
    path: 'counts',
    params: { from: '2025-02-01', to: '2025-02-15', groupBy: 'day', action: 'GradeEvent:Graded,SessionEvent:LoggedIn', distinct: 'true' },
    expect: (e) => e.counts({ from: '2025-02-01', to: '2025-02-15', groupBy: 'day', action: 'GradeEvent:Graded,SessionEvent:LoggedIn', distinct: 'true' }),
  },
  { path: 'funnel', params: YEAR, expect: (e) => e.funnel(YEAR) },
  { path: 'funnel', params: { ...YEAR, badgeClass: badgeClassIri(1) }, expect: (e) => e.funnel({ ...YEAR, badgeClass: badgeClassIri(1) }) },
  { path: 'funnel', params: { from: '2025-04-01', to: '2025-07-01', issuer: issuerIri(2) }, expect: (e) => e.funnel({ from: '2025-04-01', to: '2025-07-01', issuer: issuerIri(2) }) },
  { path: 'ratios', params: YEAR, expect: (e) => e.ratios(YEAR) },
  { path: 'ratios', params: { ...YEAR, issuer: issuerIri(0) }, expect: (e) => e.ratios({ ...YEAR, issuer: issuerIri(0) }) },
  { path: 'ratios', params: { from: '2025-07-01', to: '2025-10-01', badgeClass: badgeClassIri(2) }, expect: (e) => e.ratios({ from: '2025-07-01', to: '2025-10-01', badgeClass: badgeClassIri(2) }) },
  { path: 'consumers', params: YEAR, expect: (e) => e.consumers(YEAR) },
  { path: 'consumers', params: { ...YEAR, badgeClass: badgeClassIri(0), action: 'Shared,Verified' }, expect: (e) => e.consumers({ ...YEAR, badgeClass: badgeClassIri(0), action: 'Shared,Verified' }) },
  { path: 'time-to-earn', params: YEAR, expect: (e) => e.timeToEarn(YEAR) },
  { path: 'time-to-earn', params: { ...YEAR, issuer: issuerIri(1) }, expect: (e) => e.timeToEarn({ ...YEAR, issuer: issuerIri(1) }) },
  {
    path: 'time-to-earn',
    params: { from: '2025-07-01', to: '2026-01-01', badgeClass: badgeClassIri(3) },
    expect: (e) => e.timeToEarn({ from: '2025-07-01', to: '2026-01-01', badgeClass: badgeClassIri(3) }),
  },
  { path: 'top-badges', params: { ...YEAR, by: 'Issued' }, expect: (e) => e.topBadges({ ...YEAR, by: 'Issued' }) },
  { path: 'top-badges', params: { ...YEAR, by: 'recipients:Shared', limit: '5' }, expect: (e) => e.topBadges({ ...YEAR, by: 'recipients:Shared', limit: '5' }) },
  { path: 'top-badges', params: { ...YEAR, by: 'acceptanceRate' }, expect: (e) => e.topBadges({ ...YEAR, by: 'acceptanceRate' }) },
  {
    path: 'top-badges',
    params: { from: '2025-01-01', to: '2025-04-01', by: 'Accessed', issuer: issuerIri(0) },
    expect: (e) => e.topBadges({ from: '2025-01-01', to: '2025-04-01', by: 'Accessed', issuer: issuerIri(0) }),
  },
  { path: 'summary', params: { ...YEAR, badgeClass: badgeClassIri(0) }, expect: (e) => e.summary({ ...YEAR, badgeClass: badgeClassIri(0) }) },
  { path: 'summary', params: { from: '2025-10-01', to: '2026-01-01', badgeClass: badgeClassIri(5) }, expect: (e) => e.summary({ from: '2025-10-01', to: '2026-01-01', badgeClass: badgeClassIri(5) }) },
  {
    path: 'summary',
    params: { ...YEAR, badgeClass: 'https://badges.example.edu/badgeclasses/never-seen' },
    expect: (e) => e.summary({ ...YEAR, badgeClass: 'https://badges.example.edu/badgeclasses/never-seen' }),
  },
];

// Ajv 8 (JSON Schema 2020-12, OpenAPI 3.1's dialect), as the platform package has it; the root's is an older major.
const { Ajv2020 } = createRequire(new URL('../../packages/platform/package.json', import.meta.url))('ajv/dist/2020.js') as {
  Ajv2020: new (options: object) => { addSchema(schema: unknown, key: string): void; getSchema(ref: string): ((value: unknown) => boolean) | undefined };
};

/** Events of a history as ingest writes them to caliper.events. */
function logged(events: readonly GeneratedEvent[]) {
  const receivedAt = new Date().toISOString();
  return events.map((e) => ({ key: e.key, value: e.event, headers: ingestHeaders(e.known, receivedAt) }));
}

describe.each(MODES)('reporting (%s)', (mode) => {
  let d: Deployment;
  let groupId: string;
  let reporting: RunningReporting;
  let harness: IngestOf;
  let historyStart: Map<number, string>;
  const tenants = { a: uniqueName('tenant-a'), b: uniqueName('tenant-b'), empty: uniqueName('tenant-empty') };
  const readers: Record<string, string> = {};
  let sensorOfA: string;
  let history: { a: GeneratedEvent[]; b: GeneratedEvent[]; viaIngest: GeneratedEvent[] };
  let expected: Record<string, Expected>;
  const validate = new Map<string, (value: unknown) => boolean>();
  const startReportingOn = () => startReporting(loadReportingConfig(d.env({ REPORTING_PORT: '0', REPORTING_GROUP_ID: groupId })), undefined, d.backend);

  async function checkEveryFigure(tenant: 'a' | 'b' | 'ingest'): Promise<void> {
    const token = tenant === 'ingest' ? harness.tokens.reader : readers[tenant]!;
    for (const q of QUERIES) {
      const answer = await getReport(reporting.url, `/reports/${q.path}`, token, q.params);
      expect(answer.status, `${q.path} ${JSON.stringify(q.params)}: ${answer.text.slice(0, 500)}`).toBe(200);
      expect(validate.get(q.path)!(answer.body), `${q.path} answer matches the OpenAPI description`).toBe(true);
      const { tenant: answeredFor, query: _query, ...figures } = answer.body;
      expect(answeredFor).toBe(tenant === 'ingest' ? harness.tenant : tenants[tenant]);
      expect(figures, `${tenant}: ${q.path} ${JSON.stringify(q.params)}`).toEqual(q.expect(expected[tenant]!));
    }
  }

  beforeAll(async () => {
    d = await startDeployment(mode, { database: uniqueName('reporting') });
    const directory = new MongoTenantDirectory(d.db);
    await directory.init();
    for (const name of Object.values(tenants)) {
      await directory.createTenant(name);
      readers[name] = (await directory.createKey(name, 'reader')).token;
    }
    readers.a = readers[tenants.a]!;
    readers.b = readers[tenants.b]!;
    sensorOfA = (await directory.createKey(tenants.a, 'sensor')).token;
    harness = await startIngestOf(d);

    history = {
      a: generateHistory({ tenant: tenants.a, events: 200_000, seed: 1 }),
      // The same badge class, issuer and learner IRIs in another tenant.
      b: generateHistory({ tenant: tenants.b, events: 15_000, seed: 2 }),
      viaIngest: generateHistory({ tenant: harness.tenant, events: 60, seed: 3, learners: 5 }),
    };
    expected = { a: new Expected(history.a.map((e) => e.known)), b: new Expected(history.b.map((e) => e.known)), ingest: new Expected(history.viaIngest.map((e) => e.known)) };

    groupId = uniqueName('metrics');
    historyStart = await d.startGroupAt(groupId);
    await d.produce(logged([...history.a, ...history.b]));
    for (let i = 0; i < history.viaIngest.length; i += 20) {
      const posted = await harness.post(envelopeOf(history.viaIngest.slice(i, i + 20).map((e) => e.event)));
      expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    }

    reporting = await startReportingOn();
    await d.waitUntilCounted(groupId);

    const openapi = await getReport(reporting.url, '/openapi.json', undefined);
    expect(openapi.body.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv as never);
    ajv.addSchema(openapi.body, 'openapi.json');
    for (const q of QUERIES) validate.set(q.path, ajv.getSchema(`openapi.json#/components/schemas/${q.path}`)!);
  }, 300_000);

  afterAll(async () => {
    await reporting?.close();
    await harness?.close();
    await d?.close();
  });

  describe('every figure, for every tenant, delivered once or again', () => {
    it('answers every query with the figures computed from the generated events, for each tenant', async () => {
      expect(history.a.length).toBeGreaterThanOrEqual(200_000);
      await checkEveryFigure('a');
      await checkEveryFigure('b');
      await checkEveryFigure('ingest');
      // The history is not trivial: the figures checked are large and varied.
      const year = await getReport(reporting.url, '/reports/counts', readers.a, { ...YEAR, groupBy: 'month' });
      const totals = year.body.totals as { action: string; events: number }[];
      expect(totals.reduce((n, t) => n + t.events, 0)).toBe(history.a.filter((e) => e.known.time < Date.parse('2026-01-01T00:00:00Z')).length);
      expect(totals.map((t) => t.action)).toEqual(
        expect.arrayContaining(['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Accessed', 'Verified', 'Accepted', 'Revoked', 'GradeEvent:Graded']),
      );
    });

    it('gives a reader of one tenant nothing of another, whatever the query, filter or export', async () => {
      const empty = readers[tenants.empty]!;
      for (const q of QUERIES) {
        const answer = await getReport(reporting.url, `/reports/${q.path}`, empty, q.params);
        expect(answer.status).toBe(200);
        expect(answer.body.tenant).toBe(tenants.empty);
        expect(JSON.stringify(answer.body.rows)).not.toMatch(/"events":[1-9]|"recipients":[1-9]|"value":[0-9]/);
        const csv = await getReport(reporting.url, `/reports/${q.path}`, empty, { ...q.params, format: 'csv' });
        expect(csv.text).not.toContain('example.edu/users');
      }
      // The tenant comes from the key only: naming another tenant is refused, not obeyed.
      const named = await getReport(reporting.url, '/reports/counts', readers.b, { ...YEAR, groupBy: 'month', tenant: tenants.a });
      expect(named.status).toBe(400);
      expect(JSON.stringify(named.body)).toContain('/tenant');
      // xAPI export: B's statements are exactly B's badge events.
      const exported = await getReport(reporting.url, '/exports/xapi', readers.b, YEAR);
      expect(exported.status).toBe(200);
      const statements = JSON.parse(exported.text) as { id: string; context: { extensions: Record<string, string> } }[];
      const inYear = (t: number) => t >= Date.parse('2025-01-01T00:00:00Z') && t < Date.parse('2026-01-01T00:00:00Z');
      const ofB = history.b.filter((e) => e.known.badge && inYear(e.known.time)).map((e) => uuidV5(e.known.eventId, XAPI_NAMESPACE));
      expect(ofB.length).toBeLessThan(history.b.filter((e) => e.known.badge).length);
      expect(statements.map((s) => s.id).sort()).toEqual(ofB.sort());
      const empties = await getReport(reporting.url, '/exports/xapi', empty, YEAR);
      expect(JSON.parse(empties.text)).toEqual([]);
    });

    it('streams any query as CSV with a header row, the same rows as JSON', async () => {
      for (const q of QUERIES.filter((_, i) => i % 3 === 0)) {
        const json = await getReport(reporting.url, `/reports/${q.path}`, readers.a, q.params);
        const csv = await getReport(reporting.url, `/reports/${q.path}`, readers.a, q.params, 'text/csv');
        expect(csv.status).toBe(200);
        expect(csv.contentType).toMatch(/^text\/csv/);
        const [header, ...rows] = parseCsv(csv.text);
        const jsonRows = json.body.rows as Record<string, unknown>[];
        expect(rows).toHaveLength(jsonRows.length);
        expect(rows).toEqual(jsonRows.map((r) => header!.map((c) => (r[c] === null || r[c] === undefined ? '' : String(r[c])))));
      }
    });

    it('refuses bad queries with a 400 that names what to change, and changes nothing', async () => {
      const bad: [string, Record<string, string>, string, RegExp][] = [
        ['counts', { ...YEAR, groupBy: 'fortnight' }, '/groupBy', /use one of hour, day, week, month/],
        ['counts', { from: '2025-06-01', to: '2025-05-01', groupBy: 'day' }, '/to', /empty or inverted/],
        ['counts', { ...YEAR, groupBy: 'hour' }, '/groupBy', /use groupBy=day/],
        ['counts', { from: '2025-13-45', to: '2025-06-01', groupBy: 'day' }, '/from', /not a date/],
        ['counts', { from: 'yesterday', to: '2025-06-01', groupBy: 'day' }, '/from', /not a date/],
        ['counts', { from: '2025-01-01T10:30:00Z', to: '2025-06-01', groupBy: 'day' }, '/from', /whole hour/],
        ['counts', { to: '2025-06-01', groupBy: 'day' }, '/from', /required/],
        ['funnel', { ...YEAR, badge: badgeClassIri(0) }, '/badge', /unknown parameter/],
        ['top-badges', { ...YEAR, by: 'popularity' }, '/by', /unknown measure/],
        ['top-badges', { ...YEAR, by: 'Issued', limit: '0' }, '/limit', /from 1 to 100/],
        ['summary', YEAR, '/badgeClass', /required/],
        ['counts', { from: '2000-01-01', to: '2025-06-01', groupBy: 'month' }, '/to', /longer than/],
      ];
      const before = await getReport(reporting.url, '/reports/counts', readers.a, { ...YEAR, groupBy: 'month' });
      for (const [path, params, pointer, reason] of bad) {
        const answer = await getReport(reporting.url, `/reports/${path}`, readers.a, params);
        expect(answer.status, `${path} ${JSON.stringify(params)}`).toBe(400);
        expect(answer.contentType).toMatch(/^application\/problem\+json/);
        const errors = answer.body.errors as { pointer: string; reason: string }[];
        expect(errors.find((e) => e.pointer === pointer)?.reason, JSON.stringify(answer.body)).toMatch(reason);
        expect(answer.body.detail).toEqual(expect.any(String));
      }
      expect((await getReport(reporting.url, '/reports/counts', undefined, { ...YEAR, groupBy: 'month' })).status).toBe(401);
      expect((await getReport(reporting.url, '/reports/counts', sensorOfA, { ...YEAR, groupBy: 'month' })).status).toBe(403);
      expect((await getReport(reporting.url, '/reports/counts', readers.a, { ...YEAR, groupBy: 'month' })).body).toEqual(before.body);
    });

    it('counts each event once when events are delivered again: copies at new offsets, and a replay of the whole range', async () => {
      // Copies of 10% of the events (a sensor retrying), at new offsets.
      const copies = [...history.a.filter((_, i) => i % 10 === 3), ...history.b.filter((_, i) => i % 10 === 7)];
      await d.produce(logged(copies));
      await d.waitUntilCounted(groupId);
      await checkEveryFigure('a');
      await checkEveryFigure('b');
      const metrics = await (await fetch(`${reporting.url}/metrics`)).text();
      const duplicates = Number(/badgestream_reporting_events_skipped_total\{reason="duplicate"[^}]*\} (\d+)/.exec(metrics)?.[1]);
      expect(duplicates).toBe(copies.length);

      // The whole range again, from where the history starts, read by a restarted service.
      await reporting.close();
      await d.startGroupAt(groupId, historyStart);
      reporting = await startReportingOn();
      await d.waitUntilCounted(groupId);
      await checkEveryFigure('a');
      await checkEveryFigure('b');
      await checkEveryFigure('ingest');
      const replayed = await (await fetch(`${reporting.url}/metrics`)).text();
      const ends = await d.endOffsets();
      expect(Number(/badgestream_reporting_events_skipped_total\{reason="replayed"[^}]*\} (\d+)/.exec(replayed)?.[1])).toBeGreaterThanOrEqual(history.a.length + history.b.length);
      // Nothing of the history is counted again: only the sentinels the wait writes, one per partition.
      expect(Number(/badgestream_reporting_events_applied_total\{[^}]*\} (\d+)/.exec(replayed)?.[1])).toBe(ends.size);
      expect(replayed).toContain('badgestream_consumer_lag{');
    }, 300_000);
  });
});
