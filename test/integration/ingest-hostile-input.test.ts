import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badgeEvent as badgeEventFor, viewEvent as viewEventFor } from '../support/events.js';
import { MongoHostedBadgeObjects } from '@badgestream/platform';
import { CALIPER_V1P2, envelopeOf, startIngestHarness, uniqueName, type IngestHarness } from '../support/ingest.js';

let h: IngestHarness;

beforeAll(async () => {
  h = await startIngestHarness({ INGEST_AUTH_CACHE_TTL_MS: '200', INGEST_MAX_PAYLOAD_KB: '64' });
});
afterAll(async () => {
  await h?.close();
});

const learner = 'https://example.edu/users/554433';
const viewEvent = (extra: Record<string, unknown> = {}) => viewEventFor(learner, extra);
const badgeEvent = (action: string, options: { badge?: string } = {}) => badgeEventFor(action, learner, options);


interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { index?: number; pointer: string; reason: string }[];
}

async function expectServing() {
  expect((await h.post(envelopeOf([viewEvent()]))).status).toBe(200);
}

describe('hostile input gets a clear 4xx, and the service keeps serving', () => {
  it('invalid JSON → 400 naming the parse error', async () => {
    const r = await h.post(undefined, { raw: '{"sensor": "https://example.edu/sensors/1", "data": [' });
    expect(r.status).toBe(400);
    expect((r.body as Problem).title).toBe('The body is not valid JSON');
    expect((r.body as Problem).detail).toMatch(/JSON/);
    await expectServing();
  });

  it('an empty body → 400', async () => {
    const r = await h.post(undefined, { raw: '' });
    expect(r.status).toBe(400);
  });

  it('a body over the limit → 413 naming the limit', async () => {
    const big = envelopeOf([viewEvent({ extensions: { padding: 'x'.repeat(70 * 1024) } })]);
    const r = await h.post(big);
    expect(r.status).toBe(413);
    expect((r.body as Problem).detail).toContain('64 KiB');
    await expectServing();
  });

  it('1,000-deep nesting → 400 at the pointer where the limit is crossed', async () => {
    const raw = `{"sensor":"https://example.edu/sensors/1","sendTime":"2026-11-15T10:15:00.000Z","dataVersion":"${CALIPER_V1P2}","data":[{"extensions":{"deep":${'['.repeat(1000)}1${']'.repeat(1000)}}}]}`;
    const r = await h.post(undefined, { raw });
    expect(r.status).toBe(400);
    expect((r.body as Problem).errors![0]!.reason).toContain('deeper than 32');
    expect((r.body as Problem).errors![0]!.pointer).toMatch(/^\/data\/0\/extensions\/deep\/0/);
    await expectServing();
  });

  it.each(['__proto__', 'constructor'])('a %s key → 400 naming where it is', async (key) => {
    const raw = JSON.stringify(envelopeOf([viewEvent({ extensions: { safe: 1 } })])).replace('"safe":1', `"${key}":{"isAdmin":true}`);
    const r = await h.post(undefined, { raw });
    expect(r.status).toBe(400);
    expect((r.body as Problem).errors).toEqual([expect.objectContaining({ pointer: `/data/0/extensions/${key}` })]);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    await expectServing();
  });

  it('a wrong content type → 415', async () => {
    const r = await h.post(envelopeOf([viewEvent()]), { contentType: 'text/plain' });
    expect(r.status).toBe(415);
    expect((r.body as Problem).detail).toContain('text/plain');
  });

  it('a missing token → 401 with a Bearer challenge', async () => {
    const r = await h.post(envelopeOf([viewEvent()]), { token: null });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('an unknown or malformed token → 401', async () => {
    expect((await h.post(envelopeOf([viewEvent()]), { token: 'bgs_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status).toBe(401);
    expect((await h.post(envelopeOf([viewEvent()]), { token: 'not-a-token' })).status).toBe(401);
  });

  it('a revoked token → 401 once the auth cache has expired', async () => {
    const { key, token } = await h.directory.createKey(h.tenant, 'sensor', 'to be revoked');
    expect((await h.post(envelopeOf([viewEvent()]), { token })).status).toBe(200);
    await h.directory.revokeKey(key.id);
    await new Promise((r) => setTimeout(r, 250));
    const r = await h.post(envelopeOf([viewEvent()]), { token });
    expect(r.status).toBe(401);
    expect((r.body as Problem).title).toContain('revoked');
  });

  it('a consumer token posting Issued → 403 naming the event; Verified of a badge the tenant hosts is allowed', async () => {
    const badge = `https://issuer.example/${uniqueName('badges')}/python-basics`;
    await new MongoHostedBadgeObjects(h.mongo.db).put(h.tenant, { id: badge, type: 'BadgeClass', name: 'Python basics' }, 'admin');
    const r = await h.post(envelopeOf([badgeEvent('Verified', { badge }), badgeEvent('Issued', { badge })]), { token: h.tokens.consumer });
    expect(r.status).toBe(403);
    expect((r.body as Problem).errors).toEqual([expect.objectContaining({ index: 1, pointer: '/data/1/action', reason: expect.stringContaining('Issued') as string })]);
    expect((await h.post(envelopeOf([badgeEvent('Verified', { badge })]), { token: h.tokens.consumer })).status).toBe(200);
  });

  it('a reader token cannot post', async () => {
    expect((await h.post(envelopeOf([viewEvent()]), { token: h.tokens.reader })).status).toBe(403);
  });

  it('a remote @context → 400 naming it, with no fetch', async () => {
    const r = await h.post(envelopeOf([viewEvent({ '@context': ['https://contexts.example.org/evil.jsonld', CALIPER_V1P2] })]));
    expect(r.status).toBe(400);
    expect((r.body as Problem).errors).toEqual([expect.objectContaining({ index: 0, pointer: '/data/0/@context', reason: expect.stringContaining('https://contexts.example.org/evil.jsonld') as string })]);
    await expectServing();
  });

  it('not an envelope at all → 400 that says what an envelope needs', async () => {
    for (const body of [[], 'envelope', 42, null, { data: [] }]) {
      const r = await h.post(body);
      expect(r.status).toBe(400);
      expect((r.body as Problem).errors!.length).toBeGreaterThan(0);
    }
    await expectServing();
  });

  it('lists every failing event of an envelope, by index and pointer', async () => {
    const r = await h.post(envelopeOf([viewEvent(), viewEvent({ actor: undefined }), viewEvent({ eventTime: 'yesterday' })]));
    expect(r.status).toBe(400);
    const errors = (r.body as Problem).errors!;
    expect(errors.some((e) => e.index === 1 && e.pointer.startsWith('/data/1') && /actor/.test(e.pointer + e.reason))).toBe(true);
    expect(errors.some((e) => e.index === 2 && e.pointer === '/data/2/eventTime')).toBe(true);
    expect(errors.some((e) => e.index === 0)).toBe(false);
  });
});
