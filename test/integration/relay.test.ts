import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_BADGES_CONTEXT_IRI } from '@badgestream/profile-open-badges';
import { MongoHostedBadgeObjects, MongoRelayStore, TOPICS, type RelayEndpointStatus } from '@badgestream/platform';
import { CALIPER_V1P2, endOffsets, envelopeOf, eventId, readFrom, startIngestHarness, uniqueName, type DecodedRecord, type IngestHarness } from '../support/ingest.js';
import { IssuerStandIn, startRelayHarness, until, type ReceivedEnvelope, type RelayHarness } from '../support/relay.js';
import { eventsSchemaId, getReport, startReportingOn, waitUntilCounted } from '../support/reporting.js';
import type { RunningReporting } from '@badgestream/reporting';
import { startGroupAt } from '../support/criteria-stream.js';
import { requireStack } from '../support/stack.js';

/**
 * Closing the loop, from both ends, on the real stack: an issuer tenant advertises its /caliper
 * in its badge objects and registers consumers; a consumer tenant's relay forwards its
 * verifications there, and to issuers elsewhere (a stand-in HTTP server that fails, hangs or
 * answers slowly as scripted); abuse is refused at both ends.
 */

let h: IngestHarness;
let relay: RelayHarness;
let standIn: IssuerStandIn;
let store: MongoRelayStore;
let reporting: RunningReporting | undefined;
const run = uniqueName('loop');
const consumer = { tenant: '', sensor: '' };
const issuer = { badge: '', assertion: '', issuerProfile: '', endpoint: '', consumerToken: '' };
const verifier = { id: `https://verify.example/${run}`, type: 'SoftwareApplication', name: 'Example Verifier' };

/** Until the test says the stand-in recovered, flaky answers 503 and hang never answers; slow always takes its time; dead always fails. */
let recovered = false;
/** Until the operator fixes it (late in the dead-letter test), the dead endpoint always fails. */
let deadFixed = false;
function script(path: string, n: number) {
  if (path === '/caliper/flaky') return recovered ? { status: 200 } : { status: 503, ...(n === 1 ? { retryAfter: '0' } : {}) };
  if (path === '/caliper/hang') return recovered ? { status: 204 } : { status: 0, hang: true };
  if (path === '/caliper/slow') return { status: 200, delayMs: 300 };
  if (path === '/caliper/dead') return deadFixed ? { status: 200 } : { status: 500 };
  return { status: 200 };
}

function badgeEvent(action: string, object: unknown) {
  return { '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2], id: eventId(), type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: verifier, action, object, eventTime: '2026-11-20T09:00:00.000Z' };
}

async function call(method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const r = await fetch(`${h.ingest.url}${path}`, {
    method,
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const statusOf = async (endpoint: string): Promise<RelayEndpointStatus | undefined> => (await store.status(consumer.tenant)).find((s) => s.endpoint === endpoint);

async function intakeCount(decision: string): Promise<number> {
  const text = await (await fetch(`${relay.relay.url}/metrics`)).text();
  const match = new RegExp(`badgestream_relay_intake_total\\{[^}]*decision="${decision}"[^}]*\\} (\\d+)`).exec(text);
  return match ? Number(match[1]) : 0;
}

beforeAll(async () => {
  h = await startIngestHarness({ INGEST_AUTH_CACHE_TTL_MS: '0' });
  consumer.tenant = uniqueName('consumer');
  await h.directory.createTenant(consumer.tenant);
  consumer.sensor = (await h.directory.createKey(consumer.tenant, 'sensor')).token;
  standIn = new IssuerStandIn(script);
  await standIn.start();
  store = new MongoRelayStore(h.mongo.db);
  await store.init();
  relay = await startRelayHarness(h, { RELAY_ALLOWED_PRIVATE_HOSTS: `127.0.0.1:${h.ingest.port},127.0.0.1:${standIn.port}`, RELAY_MAX_ATTEMPTS: '10', RELAY_BREAKER_COOLDOWN_MS: '1000' });

  // The issuer tenant: reporting settings, an issuer profile through the admin API, a badge class
  // from a Defined event, an assertion from an entity describe.
  const base = `${h.ingest.url}/hosted/${run}`;
  issuer.issuerProfile = `${base}/issuer`;
  issuer.badge = `${base}/badges/python`;
  issuer.assertion = `${base}/assertions/1`;
  expect((await call('PUT', '/admin/reporting', { token: h.tokens.admin, body: { actions: ['Verified', 'Shared', 'Accepted'], anonymous: true } })).status).toBe(200);
  const profile = await call('PUT', '/admin/badge-objects', { token: h.tokens.admin, body: { id: issuer.issuerProfile, type: 'Issuer', name: 'Example University' } });
  expect(profile.status).toBe(200);
  const defined = badgeEvent('Defined', { id: issuer.badge, type: 'BadgeClass', name: 'Python basics', issuer: issuer.issuerProfile });
  const assertion = { '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2], id: issuer.assertion, type: 'Assertion', badge: issuer.badge, recipient: { id: `https://example.edu/users/${run}`, type: 'Person' }, issuedOn: '2026-11-01T00:00:00.000Z' };
  expect((await h.post(envelopeOf([defined, assertion]))).status).toBe(200);
});

afterAll(async () => {
  await reporting?.close();
  await relay?.close();
  await standIn?.close();
  await h?.close();
});

describe('the issuer advertises where to report', () => {
  it('serves its badge objects decorated with ims:TBAcaliperApi: this deployment /caliper and the chosen actions', async () => {
    for (const iri of [issuer.assertion, issuer.badge, issuer.issuerProfile]) {
      const r = await fetch(iri);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('application/ld+json');
      expect(await r.json()).toMatchObject({
        id: iri,
        'ims:TBAcaliperApi': { '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': `${h.ingest.url}/caliper`, actions: ['Verified', 'Shared', 'Accepted'] },
      });
    }
    expect((await fetch(`${h.ingest.url}/hosted/${run}/nothing-here`)).status).toBe(404);
  });

  it('registers a consumer of a hosted badge object and issues it a consumer token', async () => {
    const r = await call('POST', '/caliper/consumers', { body: { name: 'Example Verifier', badge: issuer.assertion, contact: 'ops@verify.example' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ endpoint: `${h.ingest.url}/caliper`, actions: ['Verified', 'Shared', 'Accepted'], anonymous: true });
    issuer.endpoint = r.body.endpoint as string;
    issuer.consumerToken = r.body.token as string;
    const listed = await call('GET', '/admin/consumers', { token: h.tokens.admin });
    expect(listed.body.consumers).toEqual(expect.arrayContaining([expect.objectContaining({ id: r.body.keyId, scope: 'consumer', label: 'consumer: Example Verifier <ops@verify.example>' })]));
  });

  it('refuses registrations that are malformed or about badge objects not hosted here, saying why', async () => {
    const noName = await call('POST', '/caliper/consumers', { body: { name: '', badge: issuer.assertion } });
    expect(noName.status).toBe(400);
    expect(noName.body.detail).toContain('name');
    const elsewhere = await call('POST', '/caliper/consumers', { body: { name: 'X', badge: 'https://elsewhere.example/badges/1' } });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.detail).toContain('https://elsewhere.example/badges/1 is not a badge object hosted here');
  });
});

describe('a consumer tenant reports back through the relay', () => {
  it("a verification at the consumer's side appears among the issuer's events in caliper.events and in its reporting figures; unwanted actions and its own badges do not", async () => {
    await store.putEndpoint(consumer.tenant, issuer.endpoint, { token: issuer.consumerToken });
    const own = `https://consumer.example/${run}/badges/own`;
    await new MongoHostedBadgeObjects(h.mongo.db).put(consumer.tenant, { id: own, type: 'BadgeClass', name: 'Our own' }, 'admin');
    const from = await endOffsets(h.kafka, TOPICS.events);
    // The issuer's reporting, with a group of its own from here on.
    const stack = await requireStack();
    const reportingGroup = uniqueName('loop-reporting');
    await startGroupAt(h.kafka, reportingGroup, from);
    // The database of the tenants and keys: the issuer's reader key is the one it reads with.
    reporting = await startReportingOn(stack, stack.mongodbUri, reportingGroup);
    const verified = badgeEvent('Verified', issuer.assertion);
    const accessed = badgeEvent('Accessed', issuer.assertion);
    const ownVerified = badgeEvent('Verified', own);
    const [ownBefore, unwantedBefore] = [await intakeCount('own'), await intakeCount('unwanted')];
    expect((await h.post(envelopeOf([verified, accessed, ownVerified]), { token: consumer.sensor })).status).toBe(200);

    const records = await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => rs.some((r) => r.value.id === verified.id && r.headers['badgestream-tenant'] === h.tenant));
    const atIssuer = records.filter((r) => r.headers['badgestream-tenant'] === h.tenant);
    // Said in full when it fails: which event, about what, written how.
    const described = (r: DecodedRecord) => `${String(r.value.id)} ${String(r.value.action)} of ${JSON.stringify(r.value.object)} (report: ${r.headers['badgestream-report'] ?? 'none'}, sensor: ${r.headers['caliper-sensor'] ?? 'none'})`;
    expect(atIssuer.map((r) => r.value.id), `at the issuer: ${atIssuer.map(described).join('; ')}; posted: verified ${verified.id}, accessed ${accessed.id}, own ${ownVerified.id}`).toEqual([verified.id]);
    expect(atIssuer[0]!.headers['badgestream-report']).toBe('consumer');
    expect(atIssuer[0]!.value).toEqual(verified);

    // The relay decided on the two others without forwarding them, and recorded one delivery.
    await until('intake decisions', async () => [await intakeCount('own'), await intakeCount('unwanted')], ([o, u]) => o! > ownBefore && u! > unwantedBefore);
    expect(await until('delivered', () => statusOf(issuer.endpoint), (s) => s?.delivered === 1)).toMatchObject({ backlog: 0, delivered: 1, dead: 0 });

    // The issuer's figures count the verification once, from its consumer; the Accessed it does
    // not ask for is not among them.
    await waitUntilCounted(h.kafka, reportingGroup, await eventsSchemaId(stack));
    const day = { from: '2026-11-20', to: '2026-11-21', groupBy: 'day' };
    const counts = await getReport(reporting.url, '/reports/counts', h.tokens.reader, { ...day, action: 'Verified,Accessed', distinct: 'true' });
    expect(counts.status).toBe(200);
    expect(counts.body.rows).toEqual([{ bucket: '2026-11-20T00:00:00.000Z', action: 'Verified', events: 1, recipients: expect.any(Number), actors: 1 }]);
    const consumers = await getReport(reporting.url, '/reports/consumers', h.tokens.reader, { from: day.from, to: day.to, action: 'Verified' });
    expect(JSON.stringify(consumers.body)).toContain(verifier.id);
  });
});

describe('durable delivery to issuers elsewhere', () => {
  const N = 12;
  const posted = new Map<string, string[]>();
  const endpoint = (mode: string) => `${standIn.origin}/caliper/${mode}`;
  const secret = 'shared-secret-of-the-hang-endpoint';

  function signatureValid(r: ReceivedEnvelope, key: string): boolean {
    const expected = Buffer.from(`v1=${createHmac('sha256', key).update(`${String(r.headers['badgestream-timestamp'])}.${r.raw}`).digest('hex')}`);
    const given = Buffer.from(String(r.headers['badgestream-signature'] ?? ''));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  beforeAll(async () => {
    for (const mode of ['flaky', 'hang', 'slow', 'dead', 'private']) {
      const advertised = mode === 'private' ? 'http://127.0.0.1:9/caliper' : endpoint(mode);
      const ext = { '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': advertised, actions: ['Verified'] };
      const badge = standIn.serve(`/badges/${mode}`, { id: `${standIn.origin}/badges/${mode}`, type: 'BadgeClass', name: mode, 'ims:TBAcaliperApi': ext });
      standIn.serve(`/assertions/${mode}`, { id: `${standIn.origin}/assertions/${mode}`, type: 'Assertion', badge, recipient: { type: 'email', identity: 'sha256$00', hashed: true } });
    }
    await store.putEndpoint(consumer.tenant, endpoint('flaky'), { token: 'token-for-flaky' });
    await store.putEndpoint(consumer.tenant, endpoint('hang'), { secret });
    await store.putEndpoint(consumer.tenant, endpoint('slow'), { token: 'token-for-slow', secret });
    await store.putEndpoint(consumer.tenant, endpoint('dead'), { token: 'token-for-dead' });
    await store.putEndpoint(consumer.tenant, 'http://127.0.0.1:9/caliper', { token: 'never-used' });
  });

  it('gets every event to endpoints that fail, hang or answer slowly for a while exactly once, across a relay restart', async () => {
    for (const mode of ['flaky', 'hang', 'slow']) {
      const events = Array.from({ length: N }, () => badgeEvent('Verified', `${standIn.origin}/assertions/${mode}`));
      posted.set(mode, events.map((e) => e.id));
      for (let i = 0; i < N; i += 4) expect((await h.post(envelopeOf(events.slice(i, i + 4)), { token: consumer.sensor })).status).toBe(200);
    }
    // Restart while the flaky endpoint fails and the hanging one leaves requests unanswered; they recover after.
    await until('flaky and hanging endpoints tried', () => [standIn.requests('/caliper/flaky').length, standIn.requests('/caliper/hang').length], ([f, g]) => f! >= 1 && g! >= 1);
    await relay.restart();
    for (const mode of ['flaky', 'hang']) {
      expect(standIn.acknowledged(`/caliper/${mode}`)).toEqual([]);
      expect((await statusOf(endpoint(mode)))!.backlog).toBeGreaterThan(0);
    }
    recovered = true;

    for (const mode of ['flaky', 'hang', 'slow']) {
      const acked = await until(`every ${mode} event acknowledged`, () => standIn.acknowledged(`/caliper/${mode}`), (ids) => ids.length >= N);
      expect([...acked].sort()).toEqual([...posted.get(mode)!].sort());
      expect(await until(`${mode} delivered`, () => statusOf(endpoint(mode)), (s) => s?.delivered === N)).toMatchObject({ backlog: 0, delivered: N, dead: 0 });
    }
    expect(standIn.requests('/caliper/flaky').filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(standIn.requests('/caliper/hang').filter((r) => r.status === 0).length).toBeGreaterThan(0);
    for (const mode of ['flaky', 'hang']) expect((await statusOf(endpoint(mode)))!.failedAttempts).toBeGreaterThan(0);
    for (const r of standIn.requests('/caliper/flaky')) expect(r.headers.authorization).toBe('Bearer token-for-flaky');
    for (const r of standIn.requests('/caliper/hang')) {
      expect(r.headers.authorization).toBeUndefined();
      expect(signatureValid(r, secret)).toBe(true);
    }
    for (const r of standIn.requests('/caliper/slow')) expect([r.headers.authorization, signatureValid(r, secret)]).toEqual(['Bearer token-for-slow', true]);
    const envelope = JSON.parse(standIn.requests('/caliper/slow')[0]!.raw) as Record<string, unknown>;
    expect(envelope).toMatchObject({ sensor: 'https://w3id.org/badgestream/relay', dataVersion: CALIPER_V1P2, data: expect.any(Array) });
  });

  it('ends with dead letters for an endpoint that keeps failing, after the last attempt; put back after a fix, they are delivered once', async () => {
    const events = Array.from({ length: N }, () => badgeEvent('Verified', `${standIn.origin}/assertions/dead`));
    expect((await h.post(envelopeOf(events), { token: consumer.sensor })).status).toBe(200);
    const status = await until('dead letters', () => statusOf(endpoint('dead')), (s) => s?.dead === N);
    expect(status).toMatchObject({ backlog: 0, delivered: 0, dead: N });
    expect(standIn.acknowledged('/caliper/dead')).toEqual([]);
    const letters = (await store.deadLetters({ tenant: consumer.tenant, limit: 100 })).filter((d) => d.endpoint === endpoint('dead'));
    expect(letters.map((d) => d.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    for (const d of letters) {
      expect(d.reason).toMatch(/gave up after 10 attempts; last error: HTTP 500/);
      expect(d.attempts).toBe(10);
      expect(JSON.parse(d.event!)).toMatchObject({ action: 'Verified' });
    }

    // Fixed: the operator puts the dead letters back, and each is delivered once.
    deadFixed = true;
    expect(await store.requeueDead(consumer.tenant, endpoint('dead'))).toBe(N);
    const acked = await until('dead letters delivered after the fix', () => standIn.acknowledged('/caliper/dead'), (ids) => ids.length >= N);
    expect([...acked].sort()).toEqual(events.map((e) => e.id).sort());
    expect(await until('no dead letters left', () => statusOf(endpoint('dead')), (s) => s?.delivered === N)).toMatchObject({ backlog: 0, delivered: N, dead: 0 });
  });

  it('refuses a badge object that advertises a private address, and sends nothing there', async () => {
    const events = Array.from({ length: 3 }, () => badgeEvent('Verified', `${standIn.origin}/assertions/private`));
    expect((await h.post(envelopeOf(events), { token: consumer.sensor })).status).toBe(200);
    const status = await until('refused', () => statusOf('http://127.0.0.1:9/caliper'), (s) => s?.refused === 3);
    expect(status).toMatchObject({ backlog: 0, delivered: 0, failedAttempts: 0, dead: 0, refused: 3 });
    const outcomes = await h.mongo.db.collection('relay_outcomes').find({ eventId: { $in: events.map((e) => e.id) } }).toArray();
    for (const o of outcomes) expect(o.reason).toMatch(/advertises http:\/\/127\.0\.0\.1:9\/caliper: refused: .*127\.0\.0\.1, a loopback, private or link-local address/);
  });
});

describe('abuse at the issuer end is refused with a clear error, and nothing is forwarded', () => {
  const reportsAt = (rs: DecodedRecord[], ids: string[]) => rs.filter((r) => r.headers['badgestream-tenant'] === h.tenant && ids.includes(r.value.id as string));

  it('a consumer token posting Issued, a report about a badge not hosted here, an action not asked for', async () => {
    const from = await endOffsets(h.kafka, TOPICS.events);
    const refusedIds: string[] = [];
    const post = async (events: ReturnType<typeof badgeEvent>[]) => {
      refusedIds.push(...events.map((e) => e.id));
      return h.post(envelopeOf(events), { token: issuer.consumerToken });
    };
    const issued = await post([badgeEvent('Issued', { id: issuer.assertion, type: 'Assertion', badge: issuer.badge, recipient: { id: verifier.id, type: 'Person' }, issuedOn: '2026-11-01T00:00:00.000Z' })]);
    expect(issued.status).toBe(403);
    expect(issued.body).toMatchObject({ errors: [expect.objectContaining({ pointer: '/data/0/action', reason: expect.stringContaining('Issued') })] });

    const elsewhere = await post([badgeEvent('Verified', issuer.assertion), badgeEvent('Verified', 'https://elsewhere.example/assertions/9')]);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body).toMatchObject({
      type: 'https://w3id.org/badgestream/problems/badge-object-not-hosted',
      errors: [{ index: 1, pointer: '/data/1/object', reason: 'https://elsewhere.example/assertions/9 is not a badge object hosted by this issuer' }],
    });

    const accessed = await post([badgeEvent('Accessed', issuer.assertion)]);
    expect(accessed.status).toBe(422);
    expect(accessed.body).toMatchObject({ type: 'https://w3id.org/badgestream/problems/action-not-advertised', errors: [expect.objectContaining({ pointer: '/data/0/action', reason: expect.stringContaining('Verified, Shared, Accepted') })] });

    const notCaliper = await h.post({ data: 'nope' }, { token: issuer.consumerToken });
    expect(notCaliper.status).toBe(400);

    // The refused reports have the barrier's learner (the verifier): same partition, so once the barrier is read, none of them can follow.
    const barrier = badgeEvent('Verified', issuer.assertion);
    expect((await h.post(envelopeOf([barrier]), { token: issuer.consumerToken })).status).toBe(200);
    const records = await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => rs.some((r) => r.value.id === barrier.id));
    expect(records.filter((r) => refusedIds.includes(r.value.id as string))).toEqual([]);
  });

  it('anonymous reports: Verified where the issuer allows it, anything else needs a token', async () => {
    const anonymous = badgeEvent('Verified', issuer.assertion);
    expect((await h.post(envelopeOf([anonymous]), { token: null })).status).toBe(200);
    const shared = await h.post(envelopeOf([badgeEvent('Shared', issuer.assertion)]), { token: null });
    expect(shared.status).toBe(401);
    expect(shared.headers.get('www-authenticate')).toContain('Bearer');
    expect((shared.body as { detail: string }).detail).toContain('Verified and Accessed');
    const unknown = await h.post(envelopeOf([badgeEvent('Verified', 'https://elsewhere.example/assertions/9')]), { token: null });
    expect(unknown.status).toBe(404);
  });

  it('a flood above the rate limits gets 429 with Retry-After, and only what was accepted reaches the issuer', async () => {
    const limited = await startIngestHarness({ INGEST_AUTH_CACHE_TTL_MS: '0', INGEST_REPORTS_PER_MINUTE: '3', INGEST_ANONYMOUS_REPORTS_PER_MINUTE: '2', INGEST_CONSUMER_REGISTRATIONS_PER_HOUR: '2' });
    try {
      const from = await endOffsets(h.kafka, TOPICS.events);
      const registrations = [];
      for (let i = 0; i < 3; i++) registrations.push(await fetch(`${limited.ingest.url}/caliper/consumers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `flooder ${i}`, badge: issuer.assertion }) }));
      expect(registrations.map((r) => r.status)).toEqual([201, 201, 429]);
      const token = ((await registrations[0]!.json()) as { token: string }).token;

      const flood = Array.from({ length: 6 }, () => badgeEvent('Verified', issuer.assertion));
      const answers: Awaited<ReturnType<IngestHarness['post']>>[] = [];
      for (const e of flood) answers.push(await limited.post(envelopeOf([e]), { token }));
      const refused = answers.filter((a) => a.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      for (const a of refused) {
        expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(a.body).toMatchObject({ type: 'https://w3id.org/badgestream/problems/rate-limited', title: expect.stringContaining('this token') });
      }
      const anonymous = [];
      for (let i = 0; i < 3; i++) anonymous.push((await limited.post(envelopeOf([badgeEvent('Verified', issuer.assertion)]), { token: null })).status);
      expect(anonymous).toContain(429);

      // A last report by the same actor lands after the flood in the same partition: once it is read, the flood is complete.
      const barrier = badgeEvent('Verified', issuer.assertion);
      expect((await h.post(envelopeOf([barrier]), { token: issuer.consumerToken })).status).toBe(200);
      const records = await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => rs.some((r) => r.value.id === barrier.id));
      const accepted = flood.filter((_, i) => answers[i]!.status === 200).map((e) => e.id);
      expect(reportsAt(records, flood.map((e) => e.id)).map((r) => r.value.id)).toEqual(accepted);
    } finally {
      await limited.close();
    }
  });

  it('a consumer token revoked by its holder no longer reports', async () => {
    const registered = await call('POST', '/caliper/consumers', { body: { name: 'Short-lived', badge: issuer.badge } });
    const token = registered.body.token as string;
    expect((await h.post(envelopeOf([badgeEvent('Verified', issuer.assertion)]), { token })).status).toBe(200);
    expect((await call('DELETE', '/caliper/consumers/self', { token })).status).toBe(204);
    expect((await h.post(envelopeOf([badgeEvent('Verified', issuer.assertion)]), { token })).status).toBe(401);
  });
});
