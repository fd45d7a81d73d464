import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MongoCriteriaDefinitions, TOPICS } from '@badgestream/platform';
import { loadCriteriaConfig, startCriteria, type BackfillStatus, type RunningCriteria } from '@badgestream/criteria-service';
import { registerCriteriaCommands } from '../../packages/cli/src/criteria-commands.js';
import { gradeEvent, sessionEvent } from '../support/events.js';
import { endOffsets, envelopeOf, startIngestHarness, uniqueName, type IngestHarness } from '../support/ingest.js';
import { eventsSchemaId, waitUntilCounted } from '../support/reporting.js';
import { requireStack } from '../support/stack.js';
import { retireCriteriaOf, startGroupAt } from '../support/criteria-stream.js';

/**
 * Backfill progress on the real stack: a tenant's events are consumed and stored in the history
 * first, then criteria versions are activated, and the figures the admin API and the CLI give are
 * checked against what the history holds.
 */

let h: IngestHarness;
let criteria: RunningCriteria;
let definitions: MongoCriteriaDefinitions;
let groupId: string;
let partitions: number;
const badgeClass = `https://issuer.example/badges/${uniqueName('backfill')}`;
const quiz = (n: number) => `https://example.edu/terms/2026/courses/9/quizzes/${n}`;
const LEARNERS = 12;
/** The tenant's events: three quizzes and a log-in per learner. */
const N = LEARNERS * 4;

function version(v: number, minRatio: number) {
  return {
    badgeClass,
    version: v,
    name: 'Quizzes',
    requirement: { id: 'quizzes', match: { type: 'GradeEvent', action: 'Graded' }, where: [{ scoreRatio: { min: minRatio } }], latestBy: 'object.assignable.id', atLeast: 3 },
  };
}

beforeAll(async () => {
  const stack = await requireStack();
  h = await startIngestHarness();
  definitions = new MongoCriteriaDefinitions(h.mongo.db);
  await definitions.init();
  // Version 1 awards nobody (no one scores 95%), so nothing the backfills cause joins the history
  // between them; version 2 awards those with three quizzes at 60% or more.
  for (const [v, min] of [[1, 0.95], [2, 0.6], [3, 0.5]] as const) await definitions.put(h.tenant, version(v, min));
  groupId = uniqueName('criteria-backfill');
  await startGroupAt(h.kafka, groupId);
  partitions = (await endOffsets(h.kafka, TOPICS.events)).size;
  criteria = await startCriteria(
    loadCriteriaConfig({
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: stack.mongodbUri,
      CRITERIA_PORT: '0',
      CRITERIA_GROUP_ID: groupId,
      CRITERIA_INSTANCE_ID: uniqueName('criteria'),
      CRITERIA_REFRESH_MS: '500',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    }),
  );
  const events = [];
  for (let l = 0; l < LEARNERS; l++) {
    const learner = `https://example.edu/users/${uniqueName('learner')}`;
    events.push(sessionEvent(learner));
    for (let q = 1; q <= 3; q++) events.push(gradeEvent(learner, { assignable: quiz(q), scoreGiven: l % 2 === 0 ? 9 : 5, maxScore: 10 }));
  }
  for (let i = 0; i < events.length; i += 10) expect((await h.post(envelopeOf(events.slice(i, i + 10)))).status).toBe(200);
  // Everything posted is consumed, hence in the history, before anything is activated.
  await waitUntilCounted(h.kafka, groupId, await eventsSchemaId(stack));
});

afterAll(async () => {
  await criteria?.close();
  if (h) await retireCriteriaOf(new MongoCriteriaDefinitions(h.mongo.db), [h.tenant]);
  await h?.close();
});

async function admin(method: string, route: string, body?: unknown, token = h.tokens.admin) {
  const response = await fetch(`${criteria.url}/admin${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as BackfillStatus & { detail?: string } };
}

const backfillPath = (v: number) => `/criteria/${v}/backfill?badgeClass=${encodeURIComponent(badgeClass)}`;

/** Per partition, the events of the history chunks that hold the tenant's: counted here from the index itself. */
async function storedInIndex(): Promise<Map<number, number>> {
  const entries = await h.mongo.db.collection<{ partition: number; events: number }>('event_history_index').find({ tenants: h.tenant }).toArray();
  const byPartition = new Map<number, number>();
  for (const e of entries) byPartition.set(e.partition, (byPartition.get(e.partition) ?? 0) + e.events);
  return byPartition;
}

/** Runs `badgestream criteria …` in this process: stdout from console.log, stderr as written (the progress goes there). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...line: unknown[]) => void out.push(`${line.join(' ')}\n`));
  const error = vi.spyOn(console, 'error').mockImplementation((...line: unknown[]) => void err.push(`${line.join(' ')}\n`));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(chunk.toString()), true));
  const program = new Command('badgestream').exitOverride();
  registerCriteriaCommands(program);
  let code: number;
  try {
    await program.parseAsync(['criteria', ...args], { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (caught) {
    err.push(`${(caught as Error).message}\n`);
    code = 1;
  } finally {
    process.exitCode = undefined;
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('backfill progress', () => {
  it('the admin API follows an activation over the stored history until every partition is done, with the figures of the history', async () => {
    const before = await admin('GET', backfillPath(1));
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ state: 'not-activated', status: 'draft', activatedAt: null, partitions: { total: partitions, done: 0, running: 0 }, events: { done: 0 } });

    expect((await admin('POST', '/criteria/activate', { badgeClass, version: 1 })).status).toBe(200);
    const seen: BackfillStatus[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { status, body } = await admin('GET', backfillPath(1));
      expect(status).toBe(200);
      seen.push(body);
      if (body.state === 'done') break;
      if (Date.now() > deadline) throw new Error(`the backfill is not done after 60 s: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const [i, s] of seen.entries()) {
      expect(['waiting', 'running', 'done']).toContain(s.state);
      expect(s.events.done).toBeLessThanOrEqual(s.events.total);
      if (i > 0) expect(s.partitions.done).toBeGreaterThanOrEqual(seen[i - 1]!.partitions.done);
    }

    const done = seen.at(-1)!;
    const stored = await storedInIndex();
    const storedTotal = [...stored.values()].reduce((a, b) => a + b, 0);
    expect(storedTotal).toBeGreaterThanOrEqual(N);
    const activation = (await definitions.lastActivations(h.tenant)).find((a) => a.version === 1)!;
    expect(done).toMatchObject({
      badgeClass,
      version: 1,
      status: 'active',
      activatedAt: activation.at.toISOString(),
      partitions: { total: partitions, done: partitions, running: 0 },
      events: { done: storedTotal, total: storedTotal },
      // Every event of the tenant, each once: the history holds nothing else of this tenant.
      evaluated: N,
    });
    expect(done.byPartition.map((p) => p.partition)).toEqual(Array.from({ length: partitions }, (_, p) => p));
    for (const p of done.byPartition) expect(p).toMatchObject({ state: 'done', events: { done: stored.get(p.partition) ?? 0, total: stored.get(p.partition) ?? 0 } });
    expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.startedAt!));
    expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(Date.parse(done.activatedAt!));

    // The CLI reads the same records.
    const shown = await cli('backfill', '--tenant', h.tenant, '--badge-class', badgeClass, '--version', '1', '--group', groupId, '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual(done);
  });

  it('criteria activate --wait shows progress on stderr and prints how the backfill ended', async () => {
    // What the backfill goes through: the history as it stands (the awards it makes join it later).
    const total = [...(await storedInIndex()).values()].reduce((a, b) => a + b, 0);
    const result = await cli('activate', '--tenant', h.tenant, '--badge-class', badgeClass, '--version', '2', '--wait', '--group', groupId, '--timeout', '90');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe(`activated: ${badgeClass} version 2 (active)`);
    expect(lines[1]).toBe(`retired: ${badgeClass} version 1 (retired)`);
    expect(lines[2]).toMatch(new RegExp(`^backfill done: ${partitions}/${partitions} partitions, ${total}/${total} events gone through, ${N} of the tenant's events evaluated, in \\d+\\.\\d s$`));
    // Progress went to stderr as plain lines (not a terminal), the last one complete.
    const progress = result.stderr.split('\n').filter((l) => l.startsWith('backfill: '));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toBe(`backfill: 100% ${total.toLocaleString('en-US')}/${total.toLocaleString('en-US')} events, ${partitions}/${partitions} partitions done, ${N} of the tenant's events evaluated`);
    expect(result.stderr).not.toContain('\x1b');
    expect(result.stdout).not.toContain('backfill: ');
  });

  it('says a backfill waits while no consumer of the group has started it, counting what is stored', async () => {
    const storedNow = async () => [...(await storedInIndex()).values()].reduce((a, b) => a + b, 0);
    const before = await storedNow();
    const shown = await cli('backfill', '--tenant', h.tenant, '--badge-class', badgeClass, '--version', '2', '--group', uniqueName('no-such-group'), '--json');
    const after = await storedNow();
    const status = JSON.parse(shown.stdout) as BackfillStatus;
    expect(status).toMatchObject({ state: 'waiting', partitions: { total: null, done: 0, running: 0 }, events: { done: 0 }, evaluated: 0, byPartition: [] });
    // As stored when it was read (the awards of version 2 may still be joining the history).
    expect(status.events.total).toBeGreaterThanOrEqual(before);
    expect(status.events.total).toBeLessThanOrEqual(after);
    const table = await cli('backfill', '--tenant', h.tenant, '--badge-class', badgeClass, '--version', '2', '--group', groupId);
    expect(table.stdout).toContain('state\tdone\n');
    expect(table.stdout).toContain(`partitions\t${partitions}/${partitions} done, 0 running\n`);
  });

  it('answers 400 without a badge class, 404 for a version not stored, 403 to a reader key', async () => {
    expect((await admin('GET', '/criteria/1/backfill')).status).toBe(400);
    expect((await admin('GET', '/criteria/one/backfill?badgeClass=x')).status).toBe(400);
    expect((await admin('GET', backfillPath(9))).status).toBe(404);
    expect((await admin('GET', backfillPath(1), undefined, h.tokens.reader)).status).toBe(403);
  });
});
