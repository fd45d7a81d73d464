import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoCriteriaDefinitions, TOPICS } from '@badgestream/platform';
import { issuedEventId, loadCriteriaConfig, startCriteria, type RunningCriteria } from '@badgestream/criteria-service';
import type { AwardEffect } from '@badgestream/criteria';
import { gradeEvent } from '../support/events.js';
import { endOffsets, envelopeOf, readFrom, startIngestHarness, uniqueName, type DecodedRecord, type IngestHarness } from '../support/ingest.js';
import { freePort } from '../support/net.js';
import { requireStack } from '../support/stack.js';
import { retireCriteriaOf, startGroupAt } from '../support/criteria-stream.js';

/**
 * Awards and revocations reaching the issuer: a signed webhook with retries and an operator's
 * retry of a failed delivery, and Issued events for a tenant that issues through Badgestream.
 * The receiver is a real HTTP server; its answers are scripted per learner.
 */

interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: string; type: string; learner: string; tenant: string; awardId: string; reason?: string; event: Record<string, unknown> };
  answered: number;
}

interface Delivery {
  id: string;
  kind: string;
  status: string;
  learner: string;
  published: boolean;
  webhook?: string;
  attempts: number;
  webhookAttempts: number;
  attemptLog: { at: string; target: string; outcome: string; status?: number; error?: string }[];
}

let h: IngestHarness;
let criteria: RunningCriteria;
let receiver: Server;
let receiverUrl: string;
let secret: string;
const received: Received[] = [];
/** The statuses the receiver answers for a learner, in turn (200 once they run out). */
const script = new Map<string, { status: number; retryAfter?: string }[]>();
const issuing = { tenant: '', sensor: '', admin: '' };

const badgeClass = `https://issuer.example/badges/${uniqueName('webhooks')}`;
const quiz = 'https://example.edu/terms/2026/courses/9/quizzes/1';
const graded = (learner: string, score: number, eventTime: string) => gradeEvent(learner, { assignable: quiz, scoreGiven: score, maxScore: 10, eventTime });
const learnerNamed = (name: string) => `https://example.edu/users/${uniqueName(name)}`;

async function putCriteria(tenant: string, definitions: MongoCriteriaDefinitions) {
  await definitions.put(tenant, {
    badgeClass,
    version: 1,
    name: 'Quiz passed',
    requirement: { id: 'quiz', description: 'pass the quiz with 70%', match: { type: 'GradeEvent', action: 'Graded' }, where: [{ scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 1 },
    whenUnmet: 'revoke',
  });
  await definitions.activate(tenant, badgeClass, 1);
}

beforeAll(async () => {
  const stack = await requireStack();
  h = await startIngestHarness();
  issuing.tenant = uniqueName('issuing');
  await h.directory.createTenant(issuing.tenant);
  issuing.sensor = (await h.directory.createKey(issuing.tenant, 'sensor')).token;
  issuing.admin = (await h.directory.createKey(issuing.tenant, 'admin')).token;
  const definitions = new MongoCriteriaDefinitions(h.mongo.db);
  await definitions.init();
  await putCriteria(h.tenant, definitions);
  await putCriteria(issuing.tenant, definitions);

  const port = await freePort();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as Received['body'];
      const next = script.get(body.learner)?.shift() ?? { status: 200 };
      received.push({ at: Date.now(), headers: req.headers, raw, body, answered: next.status });
      res.writeHead(next.status, next.retryAfter ? { 'retry-after': next.retryAfter } : {}).end(next.status < 300 ? '' : `scripted ${next.status}`);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${port}/hooks/badgestream`;

  // A group of its own, starting at the end of the topic: only what this file posts.
  const groupId = uniqueName('criteria-webhooks');
  await startGroupAt(h.kafka, groupId);
  criteria = await startCriteria(
    loadCriteriaConfig({
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: stack.mongodbUri,
      CRITERIA_PORT: '0',
      CRITERIA_GROUP_ID: groupId,
      CRITERIA_INSTANCE_ID: uniqueName('criteria'),
      CRITERIA_DISPATCHER_POLL_MS: '100',
      CRITERIA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      CRITERIA_WEBHOOK_TIMEOUT_MS: '5000',
      CRITERIA_WEBHOOK_MAX_ATTEMPTS: '4',
      CRITERIA_WEBHOOK_BACKOFF_BASE_MS: '200',
      CRITERIA_WEBHOOK_BACKOFF_MAX_MS: '1500',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    }),
  );

  const set = await adminCall('PUT', '/admin/issuer', h.tokens.admin, { mode: 'webhook', webhookUrl: receiverUrl });
  expect(set.status).toBe(200);
  secret = (set.body as { secret: string }).secret;
  expect(secret).toMatch(/^whsec_/);
  expect((await adminCall('PUT', '/admin/issuer', issuing.admin, { mode: 'badgestream' })).status).toBe(200);
});

afterAll(async () => {
  await criteria?.close();
  if (h) await retireCriteriaOf(new MongoCriteriaDefinitions(h.mongo.db), [h.tenant, issuing.tenant].filter(Boolean));
  await h?.close();
  receiver?.closeAllConnections();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

async function adminCall(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${criteria.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

async function deliveries(token: string, query = ''): Promise<Delivery[]> {
  const r = await adminCall('GET', `/admin/deliveries${query}`, token);
  expect(r.status).toBe(200);
  return (r.body as { deliveries: Delivery[] }).deliveries;
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const doneDelivery = (token: string, learner: string, kind: string) =>
  until(`${kind} delivery of ${learner} done`, async () => (await deliveries(token)).find((d) => d.learner === learner && d.kind === kind), (d) => d?.status === 'done').then((d) => d!);
const requestsFor = (id: string) => received.filter((r) => r.headers['badgestream-delivery'] === id);
const badgeEventsOf = (tenant: string, rs: DecodedRecord[]) => rs.filter((r) => r.headers['badgestream-tenant'] === tenant && r.value.type === 'BadgeEvent');

/** The signature check an issuer runs, written from the README, with nothing from Badgestream. */
function signatureValid(r: Received, key: string): boolean {
  const timestamp = String(r.headers['badgestream-timestamp']);
  const expected = Buffer.from(`v1=${createHmac('sha256', key).update(`${timestamp}.${r.raw}`).digest('hex')}`);
  const given = Buffer.from(String(r.headers['badgestream-signature'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('delivering awards to issuers, on the real stack', () => {
  it('delivers an award to the webhook once, signed, beside its Demonstrated event; then its revocation', async () => {
    const learner = learnerNamed('ada');
    const from = await endOffsets(h.kafka, TOPICS.events);
    const pass = graded(learner, 8, '2026-10-01T10:00:00.000Z');
    expect((await h.post(envelopeOf([pass]))).status).toBe(200);
    expect((await h.post(envelopeOf([pass]))).status).toBe(200); // a sensor retrying

    const award = await doneDelivery(h.tokens.admin, learner, 'award');
    expect(award).toMatchObject({ published: true, webhook: 'done' });
    expect(award.attemptLog.map((a) => [a.target, a.outcome])).toEqual([
      ['kafka', 'delivered'],
      ['webhook', 'delivered'],
    ]);
    const requests = requestsFor(award.id);
    expect(requests).toHaveLength(1);
    const [request] = requests as [Received];
    expect(request.headers['content-type']).toBe('application/json');
    expect(signatureValid(request, secret)).toBe(true);
    expect(signatureValid({ ...request, raw: request.raw.replace('"award"', '"awards"') }, secret)).toBe(false);
    expect(request.body).toMatchObject({ id: award.id, type: 'award', tenant: h.tenant, learner, awardId: expect.any(String), event: { id: award.id, action: 'Demonstrated' } });

    const demonstrated = badgeEventsOf(h.tenant, await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => badgeEventsOf(h.tenant, rs).length >= 1));
    expect(demonstrated.map((r) => [r.value.id, r.value.action])).toEqual([[award.id, 'Demonstrated']]);

    // A regrade below 70%: the policy revokes, and the issuer hears of it.
    expect((await h.post(envelopeOf([graded(learner, 5, '2026-10-05T10:00:00.000Z')]))).status).toBe(200);
    const revoke = await doneDelivery(h.tokens.admin, learner, 'revoke');
    const [revocation] = requestsFor(revoke.id) as [Received];
    expect(requestsFor(revoke.id)).toHaveLength(1);
    expect(signatureValid(revocation, secret)).toBe(true);
    expect(revocation.body).toMatchObject({ type: 'revoke', awardId: request.body.awardId, reason: expect.any(String), event: { action: 'Revoked' } });
    expect(requestsFor(award.id)).toHaveLength(1);
  });

  it('retries a failing webhook with backoff until it answers 2xx, and delivers once', async () => {
    const learner = learnerNamed('grace');
    script.set(learner, [{ status: 500, retryAfter: '1' }, { status: 503 }, { status: 200 }]);
    expect((await h.post(envelopeOf([graded(learner, 9, '2026-10-02T10:00:00.000Z')]))).status).toBe(200);

    const award = await doneDelivery(h.tokens.admin, learner, 'award');
    const webhookAttempts = award.attemptLog.filter((a) => a.target === 'webhook');
    expect(webhookAttempts.map((a) => [a.outcome, a.status])).toEqual([
      ['retry', 500],
      ['retry', 503],
      ['delivered', 200],
    ]);
    expect(award.attemptLog.filter((a) => a.target === 'kafka')).toHaveLength(1);
    expect(award.webhookAttempts).toBe(3);
    const requests = requestsFor(award.id);
    expect(requests.map((r) => r.answered)).toEqual([500, 503, 200]);
    // The first answer asked for Retry-After: 1, so the second attempt came at least a second later.
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(950);
    expect(requests[2]!.at).toBeGreaterThanOrEqual(requests[1]!.at);
    expect(new Set(requests.map((r) => r.raw)).size).toBe(1);
    for (const r of requests) expect(signatureValid(r, secret)).toBe(true);
  });

  it('fails a delivery the issuer refuses, shows it to the operator, and delivers it after a retry', async () => {
    const learner = learnerNamed('alan');
    script.set(learner, [{ status: 400 }]);
    expect((await h.post(envelopeOf([graded(learner, 10, '2026-10-03T10:00:00.000Z')]))).status).toBe(200);

    const failed = await until('failed delivery listed', async () => (await deliveries(h.tokens.admin, '?status=failed')).find((d) => d.learner === learner), (d) => d !== undefined).then((d) => d!);
    expect(failed).toMatchObject({ kind: 'award', status: 'failed', published: true, webhook: 'failed', webhookAttempts: 1 });
    expect(failed.attemptLog.filter((a) => a.target === 'webhook').map((a) => [a.outcome, a.status])).toEqual([['failed', 400]]);
    expect(requestsFor(failed.id)).toHaveLength(1);
    expect((await deliveries(h.tokens.admin, '?status=pending')).some((d) => d.id === failed.id)).toBe(false);
    // Another tenant's admin sees nothing of it, and cannot retry it.
    expect((await deliveries(issuing.admin, '?status=failed')).some((d) => d.id === failed.id)).toBe(false);
    expect((await adminCall('POST', `/admin/deliveries/${encodeURIComponent(failed.id)}/retry`, issuing.admin)).status).toBe(404);

    const retried = await adminCall('POST', `/admin/deliveries/${encodeURIComponent(failed.id)}/retry`, h.tokens.admin);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: failed.id, status: 'pending', webhook: 'pending' });
    const done = await doneDelivery(h.tokens.admin, learner, 'award');
    expect(done.attemptLog.filter((a) => a.target === 'webhook').map((a) => [a.outcome, a.status])).toEqual([
      ['failed', 400],
      ['delivered', 200],
    ]);
    expect(requestsFor(failed.id).map((r) => r.answered)).toEqual([400, 200]);
    expect((await adminCall('POST', `/admin/deliveries/${encodeURIComponent(failed.id)}/retry`, h.tokens.admin)).status).toBe(409);
  });

  it('publishes an Issued event with a deterministic id for a tenant that issues through Badgestream, and Revoked after a regrade', async () => {
    const learner = learnerNamed('katherine');
    const from = await endOffsets(h.kafka, TOPICS.events);
    const post = async (score: number, eventTime: string) => {
      const r = await fetch(`${h.ingest.url}/caliper`, { method: 'POST', headers: { authorization: `Bearer ${issuing.sensor}`, 'content-type': 'application/json' }, body: JSON.stringify(envelopeOf([graded(learner, score, eventTime)])) });
      expect(r.status).toBe(200);
    };
    await post(8, '2026-10-04T10:00:00.000Z');
    const award = await doneDelivery(issuing.admin, learner, 'award');
    expect(award).toMatchObject({ published: true, webhook: 'skipped' });

    const events = badgeEventsOf(issuing.tenant, await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => badgeEventsOf(issuing.tenant, rs).length >= 2));
    const byAction = new Map(events.map((r) => [r.value.action, r]));
    expect([...byAction.keys()].sort()).toEqual(['Demonstrated', 'Issued']);
    const demonstrated = byAction.get('Demonstrated')!.value;
    const awardEffect = { id: demonstrated.id } as AwardEffect;
    const issued = byAction.get('Issued')!;
    expect(issued.value.id).toBe(issuedEventId(awardEffect));
    expect(issued.key).toBe(`${issuing.tenant}|${learner}`);
    const awardId = (demonstrated.extensions as { badgestream: { awardId: string } }).badgestream.awardId;
    expect(issued.value).toMatchObject({ action: 'Issued', object: { type: 'Assertion', id: awardId, badge: badgeClass, recipient: { id: learner, type: 'Person' }, issuedOn: '2026-10-04T10:00:00.000Z' } });

    await post(4, '2026-10-06T10:00:00.000Z');
    await doneDelivery(issuing.admin, learner, 'revoke');
    const all = badgeEventsOf(issuing.tenant, await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => badgeEventsOf(issuing.tenant, rs).some((r) => r.value.action === 'Revoked')));
    const revoked = all.find((r) => r.value.action === 'Revoked')!;
    expect(revoked.value).toMatchObject({ object: { type: 'Assertion', id: awardId, revoked: true, revocationReason: expect.any(String) } });
    expect(all.filter((r) => r.value.action === 'Issued')).toHaveLength(1);
    expect(received.some((r) => r.body.tenant === issuing.tenant)).toBe(false);
  });

  it('manages the issuing settings through the admin API, with clear errors and the secret shown once', async () => {
    const shown = await adminCall('GET', '/admin/issuer', h.tokens.admin);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ mode: 'webhook', webhookUrl: receiverUrl, hasSecret: true });
    expect(JSON.stringify(shown.body)).not.toContain(secret);
    const again = await adminCall('PUT', '/admin/issuer', h.tokens.admin, { mode: 'webhook', webhookUrl: receiverUrl });
    expect(again.body).not.toHaveProperty('secret');
    const bad = await adminCall('PUT', '/admin/issuer', h.tokens.admin, { mode: 'webhook', webhookUrl: 'ftp://issuer.example/hook' });
    expect(bad.status).toBe(400);
    expect((bad.body as { detail: string }).detail).toMatch(/http or https/);
    expect((await adminCall('PUT', '/admin/issuer', h.tokens.admin, { mode: 'carrier-pigeon' })).status).toBe(400);
    expect((await adminCall('GET', '/admin/deliveries?status=lost', h.tokens.admin)).status).toBe(400);
    expect((await adminCall('GET', '/admin/issuer', h.tokens.reader)).status).toBe(403);
    expect((await adminCall('GET', '/admin/issuer', issuing.admin)).body).toMatchObject({ mode: 'badgestream', hasSecret: false });
  });
});
