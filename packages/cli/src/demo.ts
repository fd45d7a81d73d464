import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Db } from 'mongodb';
import type { AwardRecord, ProgressReport } from '@badgestream/criteria';
import { assertionIri } from '@badgestream/criteria-service';
import { loadIngestConfig } from '@badgestream/ingest';
import { BadgestreamError, MongoTenantDirectory, commonOptions, connectMongo, loadConfig, modeOf } from '@badgestream/platform';
import { consumerReports, courseStory, type DemoLearner, type HeldBadge, type Story, type StoryEvent } from './demo-story.js';
import { describeFigures, describeLearners, describePosted, describeSetup, type Figures, type LearnerResult } from './demo-output.js';
import { banner, startBadgestream, type RunningBadgestream } from './start.js';

const CALIPER_V1P2 = 'http://purl.imsglobal.org/ctx/caliper/v1p2';
const TENANT = 'demo-university';
/** How long to wait for the criteria engine and reporting; a Kafka consumer group takes some seconds to form. */
const WAIT_MS = 120_000;
const POLL_MS = 250;
const DAY_MS = 86_400_000;
const PORTS = ['INGEST_PORT', 'CRITERIA_PORT', 'REPORTING_PORT', 'RELAY_PORT'];

export interface DemoOptions {
  /** The environment the services are configured from (default process.env): Kafka and MongoDB when set, else embedded. */
  env?: NodeJS.ProcessEnv;
  out: (line: string) => void;
  /** Leave every service running (on the configured or usual ports) after printing; the caller closes. */
  keepRunning?: boolean;
  /** Embedded mode: the data directory; by default a fresh temporary one, removed at the end unless the services keep running. */
  dataDir?: string;
}

export interface DemoResult {
  tenant: string;
  keys: { sensor: string; reader: string; admin: string };
  urls: RunningBadgestream['urls'];
  /** Stops the services when they were left running. */
  close(): Promise<void>;
}

/**
 * `badgestream demo`: starts every service in this process, creates a tenant with a badge class
 * and multi-event criteria, posts a course's Caliper events and the badge events that come back
 * from a backpack and a verifier, waits until the criteria engine and reporting have seen them,
 * and prints what happened: awards with provenance, a revocation, partial progress and the
 * issuer's figures, each read from the services' APIs.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const env = options.env ?? process.env;
  const embedded = modeOf(env) === 'embedded';
  // A directory of its own, so the demo never meets a `badgestream start` on .badgestream; kept when the services stay up.
  const fresh = embedded && options.dataDir === undefined;
  const temporary = fresh && !options.keepRunning;
  const dataDir = embedded ? (options.dataDir ?? mkdtempSync(join(tmpdir(), 'badgestream-demo-'))) : undefined;
  const demoEnv: NodeJS.ProcessEnv = {
    ...env,
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    ...(dataDir ? { BADGESTREAM_DATA_DIR: dataDir } : {}),
    // Free ports, so the demo never collides with a running Badgestream; the usual ones when it stays up.
    ...(options.keepRunning ? {} : Object.fromEntries(PORTS.map((p) => [p, '0']))),
  };
  const cleanups: (() => Promise<void>)[] = [];
  const removeDataDir = async () => rmSync(dataDir!, { recursive: true, force: true });
  if (temporary) cleanups.push(removeDataDir);
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const running = await startBadgestream(demoEnv);
    cleanups.push(() => running.close());
    const db = running.embedded ? running.embedded.store.db() : await connectDirectory(demoEnv, cleanups);
    const result = await tellStory(running, db, demoEnv, options, temporary);
    if (!options.keepRunning) await close();
    return { ...result, urls: running.urls, close };
  } catch (error) {
    await close();
    if (fresh && !temporary) await removeDataDir();
    throw error;
  }
}

async function connectDirectory(env: NodeJS.ProcessEnv, cleanups: (() => Promise<void>)[]): Promise<Db> {
  const { mongodbUri } = loadConfig({ mongodbUri: commonOptions.mongodbUri }, env);
  const mongo = await connectMongo(mongodbUri, { appName: 'badgestream-demo' });
  cleanups.push(() => mongo.close());
  return mongo.db;
}

async function tellStory(running: RunningBadgestream, db: Db, env: NodeJS.ProcessEnv, options: DemoOptions, temporary: boolean): Promise<Omit<DemoResult, 'urls' | 'close'>> {
  const { out } = options;
  const { urls } = running;
  const directory = new MongoTenantDirectory(db);
  await directory.init();
  const existing = new Set((await directory.listTenants()).map((t) => t.name));
  let tenant = TENANT;
  for (let n = 2; existing.has(tenant); n++) tenant = `${TENANT}-${n}`;
  await directory.createTenant(tenant);
  const keys = {
    sensor: (await directory.createKey(tenant, 'sensor', 'demo: the LMS')).token,
    reader: (await directory.createKey(tenant, 'reader', 'demo: the issuer page')).token,
    admin: (await directory.createKey(tenant, 'admin', 'demo: the badge administrator')).token,
  };
  const now = new Date();
  const story = courseStory({ tenant, hostedBase: loadIngestConfig(env).publicUrl || urls.ingest, now });
  const api = new DemoApi(urls);

  // The issuer: its profile hosted here, Badgestream issuing for it, the badge class defined and its criteria active.
  await api.expect('storing the issuer profile', await api.call('PUT', `${urls.ingest}/admin/badge-objects`, { token: keys.admin, body: story.issuer }), 200);
  await api.expect('setting the issuing mode', await api.call('PUT', `${urls.criteria}/admin/issuer`, { token: keys.admin, body: { mode: 'badgestream' } }), 200);
  await api.post('defining the badge class', envelope(`${story.lms}/sensors/caliper`, [story.defined]), keys.sensor);
  await api.expect('storing the criteria', await api.call('PUT', `${urls.criteria}/admin/criteria`, { token: keys.admin, body: story.criteria }), 201);
  const activation = { badgeClass: story.criteria.badgeClass, version: story.criteria.version };
  await api.expect('activating the criteria', await api.call('POST', `${urls.criteria}/admin/criteria/activate`, { token: keys.admin, body: activation }), 200);
  const consumers = [];
  for (const app of [story.backpack, story.verifier]) {
    const registered = await api.expect(
      'registering a consumer',
      await api.call('POST', `${urls.ingest}/caliper/consumers`, { body: { name: app.name, badge: story.badgeClass.id, contact: `badges@${new URL(app.id).hostname}` } }),
      201,
    );
    consumers.push({ app, token: String(registered.token) });
  }
  out('');
  for (const line of describeSetup({ running, tenant, story, temporary })) out(line);

  // The LMS's three weeks, one envelope a day.
  for (const batch of story.envelopes) await api.post('posting the course events', envelope(`${story.lms}/sensors/caliper`, batch), keys.sensor);
  out('');
  for (const line of describePosted(story)) out(line);

  // The criteria engine awards and revokes as the events arrive.
  const results = await waitFor(
    'the criteria engine to reach every learner’s outcome',
    () => Promise.all(story.learners.map((l) => api.learner(l, story, keys.reader))),
    (rs) => rs.flatMap(unreached),
  );
  const held: HeldBadge[] = results.flatMap((r) => (r.progress?.award ? [{ learner: r.learner.iri, assertion: assertionIri(r.progress.award.awardId), issuedOn: r.progress.award.awardedAt }] : []));

  // What comes back: holders share their badges from a backpack, an employer verifies them.
  const reports = consumerReports(story, held, now);
  const [backpack, verifier] = consumers;
  await api.post('reporting shares', envelope(backpack!.app.id, reports.shared), backpack!.token);
  await api.post('reporting verifications', envelope(verifier!.app.id, reports.verified), verifier!.token);
  const labels = new Map([story.defined, ...story.envelopes.flat(), ...reports.shared, ...reports.verified].map((e) => [e.event.id, e] as const));
  out('');
  for (const line of describeLearners(story, results, labels)) out(line);

  // Reporting counts every event once; wait until it has counted all of them.
  const emitted = results.flatMap((r) => r.effects);
  const expected: Record<string, number> = {
    Defined: 1,
    Demonstrated: emitted.filter((e) => e.kind === 'award').length,
    Issued: emitted.filter((e) => e.kind === 'award').length,
    Revoked: emitted.filter((e) => e.kind === 'revoke').length,
    Shared: reports.shared.length,
    Verified: reports.verified.length,
  };
  for (const e of story.envelopes.flat()) expected[`${e.event.type}:${e.event.action}`] = (expected[`${e.event.type}:${e.event.action}`] ?? 0) + 1;
  const range = rangeOf([story.defined, ...story.envelopes.flat()], now);
  const figures = await waitFor(
    'reporting to count every event',
    () => api.figures(story, range, keys.reader),
    (f) => uncounted(f, expected),
  );
  out('');
  for (const line of describeFigures(story, figures, range)) out(line);

  if (options.keepRunning) {
    const keyLines = [`# The keys of tenant ${tenant} (the consumers registered their own)`, ...Object.entries(keys).map(([scope, token]) => `${scope.padEnd(8)} ${token}`)].join('\n');
    out('');
    for (const line of banner(running, keyLines, { suggestDemo: false }).split('\n')) out(line);
    out('');
    out(`Open ${urls.reporting}/ and give it the reader key to see these figures as charts (filter on the badge class ${story.badgeClass.id}).`);
    out(`The badge class, as consumers fetch it: ${story.badgeClass.id}`);
    out('Stop with Ctrl-C.');
  } else if (!temporary) {
    out('');
    out(`The demo's data stays in ${running.mode === 'embedded' ? running.dataDir : 'MongoDB and Kafka'}; the keys of tenant ${tenant}:`);
    for (const [scope, token] of Object.entries(keys)) out(`  ${scope.padEnd(8)} ${token}`);
  }
  return { tenant, keys };
}

/** The reporting range: whole days from the first event to the end of today (UTC). */
function rangeOf(events: StoryEvent[], now: Date): { from: string; to: string } {
  const first = Math.min(...events.map((e) => Date.parse(e.event.eventTime)));
  const day = (ms: number) => new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
  return { from: day(first), to: day(now.getTime() + DAY_MS) };
}

function envelope(sensor: string, events: StoryEvent[]) {
  return { sensor, sendTime: new Date().toISOString(), dataVersion: CALIPER_V1P2, data: events.map((e) => e.event) };
}

/** Why a learner is not at the outcome the story gives them yet; nothing when they are. */
function unreached(r: LearnerResult): string[] {
  const p = r.progress;
  const name = r.learner.name;
  switch (r.learner.outcome) {
    case 'earned':
      return p?.award ? [] : [`${name} holds no award yet`];
    case 'revoked':
      return p && !p.award && p.awards.some((a) => a.ended?.how === 'revoked') && r.effects.some((e) => e.kind === 'revoke') ? [] : [`${name}'s award is not revoked yet`];
    case 'unenrolled':
      return p && !p.requirements.find((q) => q.id === 'enrolled')?.met ? [] : [`${name}'s unenrolment is not seen yet`];
  }
}

/** What reporting has not counted yet, by action: "Issued 3 of 5". */
function uncounted(f: Figures, expected: Record<string, number>): string[] {
  const counted = new Map<string, number>();
  for (const row of f.totals) counted.set(row.action, row.events);
  return Object.entries(expected)
    .filter(([action, n]) => (counted.get(action) ?? 0) !== n)
    .map(([action, n]) => `${action} ${counted.get(action) ?? 0} of ${n}`);
}

async function waitFor<T>(what: string, read: () => Promise<T>, missing: (value: T) => string[]): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await read();
    const left = missing(value);
    if (left.length === 0) return value;
    if (Date.now() > deadline) throw new BadgestreamError(`gave up after ${WAIT_MS / 1000} s waiting for ${what}: ${left.join('; ')}`, { code: 'DEMO_TIMEOUT' });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface ProgressAnswer {
  badges: (ProgressReport & { awards: AwardRecord[] })[];
  effects: { kind: 'award' | 'revoke' | 'expire'; badgeClass: string }[];
}

/** The services' HTTP APIs, as the demo's issuer, LMS and consumers use them. */
class DemoApi {
  constructor(private readonly urls: RunningBadgestream['urls']) {}

  async call(method: string, url: string, options: { token?: string; body?: unknown } = {}): Promise<Answer> {
    const response = await fetch(url, {
      method,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    try {
      return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    } catch {
      return { status: response.status, body: { detail: text.slice(0, 200) } };
    }
  }

  /** The answer's body when its status is the one expected; otherwise what the service said, as an error. */
  async expect(what: string, answer: Answer, status: number): Promise<Record<string, unknown>> {
    if (answer.status === status) return answer.body;
    const errors = Array.isArray(answer.body.errors) ? (answer.body.errors as { pointer?: string; reason?: string }[]).map((e) => `${e.pointer ?? ''}: ${e.reason ?? ''}`).join('; ') : '';
    const detail = [answer.body.title, answer.body.detail, errors].filter((s) => typeof s === 'string' && s !== '').join(': ');
    throw new BadgestreamError(`${what} failed: HTTP ${answer.status}${detail ? ` ${detail}` : ''}`, { code: 'DEMO_FAILED' });
  }

  async post(what: string, body: unknown, token: string): Promise<void> {
    await this.expect(what, await this.call('POST', `${this.urls.ingest}/caliper`, { token, body }), 200);
  }

  async learner(learner: DemoLearner, story: Story, reader: string): Promise<LearnerResult> {
    const answer = (await this.expect(
      'reading learner progress',
      await this.call('GET', `${this.urls.criteria}/progress?learner=${encodeURIComponent(learner.iri)}`, { token: reader }),
      200,
    )) as unknown as ProgressAnswer;
    const progress = answer.badges.find((b) => b.badgeClass === story.badgeClass.id);
    return { learner, ...(progress ? { progress } : {}), effects: answer.effects.filter((e) => e.badgeClass === story.badgeClass.id) };
  }

  async figures(story: Story, range: { from: string; to: string }, reader: string): Promise<Figures> {
    const report = async (kind: string, params: Record<string, string>) =>
      this.expect(`reading the ${kind} report`, await this.call('GET', `${this.urls.reporting}/reports/${kind}?${new URLSearchParams({ ...range, ...params }).toString()}`, { token: reader }), 200);
    const [summary, counts, consumers] = await Promise.all([
      report('summary', { badgeClass: story.badgeClass.id }),
      report('counts', { groupBy: 'week' }),
      report('consumers', { badgeClass: story.badgeClass.id, action: 'Shared,Verified' }),
    ]);
    return { summary: summary as unknown as Figures['summary'], totals: (counts.totals ?? []) as Figures['totals'], consumers: (consumers.rows ?? []) as Figures['consumers'] };
  }
}

/** `badgestream demo`. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('see the whole loop with sample data: a course’s Caliper events in; awards with provenance, a revocation, shares, verifications and the issuer’s figures out')
    .option('--keep-running', 'leave every service up afterwards, on the usual ports, to browse the issuer page; stop with Ctrl-C', false)
    .option('--data-dir <dir>', 'embedded mode: keep the data in this directory (default: a temporary one, removed at exit)')
    .action(async (opts: { keepRunning: boolean; dataDir?: string }) => {
      const demo = await runDemo({ out: (line) => console.log(line), keepRunning: opts.keepRunning, ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}) });
      if (!opts.keepRunning) return;
      const stop = () => {
        demo.close().then(
          () => process.exit(0),
          (error: unknown) => {
            console.error(`badgestream: stopping failed: ${(error as Error).message}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
