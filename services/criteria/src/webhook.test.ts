import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwardEffect, RevokeEffect } from '@badgestream/criteria';
import { badgeEventFor } from './badge-events.js';
import { backoffDelayMs, classifyStatus, isPrivateAddress, parseRetryAfter, postWebhook, retryDelayMs, signWebhook, webhookPayload } from './webhook.js';

const award: AwardEffect = {
  kind: 'award',
  id: 'urn:uuid:2f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b',
  tenant: 'example-university',
  learner: 'https://example.edu/users/554433',
  badgeClass: 'https://issuer.example/badges/python-basics',
  criteriaVersion: 3,
  awardId: 'urn:uuid:2f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b',
  causedBy: 'urn:uuid:7d1b6c1e-3c4d-4e6f-8a9b-0c1d2e3f4a5b',
  awardedAt: '2026-10-15T10:00:00.000Z',
  provenance: { criteriaVersion: 3 } as unknown as AwardEffect['provenance'],
};

describe('webhook signatures', () => {
  it('sign "<timestamp>.<body>" with HMAC-SHA256 under the tenant secret, as v1=<hex>', () => {
    const body = JSON.stringify({ id: award.id });
    const expected = createHmac('sha256', 'whsec_test').update(`1767225600.${body}`).digest('hex');
    expect(signWebhook('whsec_test', 1767225600, body)).toBe(`v1=${expected}`);
  });

  it('change with the secret, the timestamp and every byte of the body', () => {
    const body = '{"a":1}';
    const base = signWebhook('whsec_a', 100, body);
    expect(signWebhook('whsec_b', 100, body)).not.toBe(base);
    expect(signWebhook('whsec_a', 101, body)).not.toBe(base);
    expect(signWebhook('whsec_a', 100, '{"a":2}')).not.toBe(base);
  });
});

describe('answer classification', () => {
  it('delivers on 2xx, retries 408, 429 and 5xx, gives up on other 4xx and on redirects', () => {
    for (const s of [200, 201, 202, 204, 299]) expect(classifyStatus(s), String(s)).toBe('delivered');
    for (const s of [408, 429, 500, 502, 503, 504]) expect(classifyStatus(s), String(s)).toBe('retry');
    for (const s of [400, 401, 403, 404, 409, 410, 422, 301, 302]) expect(classifyStatus(s), String(s)).toBe('failed');
  });
});

describe('backoff', () => {
  const policy = { baseMs: 1000, maxMs: 3_600_000 };

  it('doubles its ceiling after each failure, up to the max (full jitter below it)', () => {
    const ceiling = (n: number) => backoffDelayMs(n, policy, () => 1 - Number.EPSILON) + 1;
    expect(ceiling(1)).toBe(1000);
    expect(ceiling(2)).toBe(2000);
    expect(ceiling(5)).toBe(16_000);
    expect(ceiling(12)).toBe(2_048_000);
    expect(ceiling(13)).toBe(3_600_000);
    expect(ceiling(1000)).toBe(3_600_000);
    expect(backoffDelayMs(5, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(5, policy, () => 0.5)).toBe(8000);
  });

  it('spreads retries across the whole interval', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelayMs(4, policy));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(8000);
    expect(delays.filter((d) => d < 4000).length).toBeGreaterThan(800);
    expect(delays.filter((d) => d >= 4000).length).toBeGreaterThan(800);
  });

  it('waits at least what Retry-After asks, up to the max', () => {
    expect(retryDelayMs(1, policy, 30_000, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(8, policy, 1000, () => 0.5)).toBe(64_000);
    expect(retryDelayMs(1, policy, 10 * 3_600_000, () => 0.5)).toBe(3_600_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('private-address protection', () => {
  it('knows loopback, private, link-local and mapped addresses from public ones', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111']) expect(isPrivateAddress(a), a).toBe(false);
  });
});

describe('the payload', () => {
  it('carries the effect, its provenance and the BadgeEvent published for it', () => {
    const payload = webhookPayload(award, badgeEventFor(award));
    expect(payload).toMatchObject({ id: award.id, type: 'award', tenant: award.tenant, learner: award.learner, badgeClass: award.badgeClass, criteriaVersion: 3, awardId: award.awardId, occurredAt: award.awardedAt, provenance: award.provenance });
    expect(payload.event).toMatchObject({ id: award.id, action: 'Demonstrated' });
    const revoke: RevokeEffect = { ...award, kind: 'revoke', id: 'urn:uuid:3f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b', revokedAt: '2026-10-20T10:00:00.000Z', reason: 'quiz 3 regraded below 70%', brokenBy: ['urn:uuid:x'], unmet: ['quizzes'], awardProvenance: award.provenance };
    expect(webhookPayload(revoke, badgeEventFor(revoke))).toMatchObject({ type: 'revoke', occurredAt: revoke.revokedAt, reason: revoke.reason, brokenBy: ['urn:uuid:x'], unmet: ['quizzes'], provenance: award.provenance, event: { action: 'Revoked' } });
  });
});

describe('postWebhook against a local receiver', () => {
  let server: Server;
  let url: string;
  let answer: (req: IncomingMessage, body: string) => { status: number; headers?: Record<string, string>; delayMs?: number };
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        const a = answer(req, body);
        setTimeout(() => res.writeHead(a.status, a.headers ?? {}).end('receiver says hello'), a.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/badges`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const request = (extra: Partial<Parameters<typeof postWebhook>[0]> = {}) => ({ url, secret: 'whsec_local', deliveryId: award.id, body: '{"hello":"issuer"}', timeoutMs: 2000, allowPrivateAddresses: true, ...extra });

  it('sends the signed body with the delivery id and timestamp, and reports 2xx as delivered', async () => {
    answer = () => ({ status: 204 });
    received.length = 0;
    const result = await postWebhook(request());
    expect(result).toMatchObject({ outcome: 'delivered', status: 204 });
    const [{ headers, body }] = received as [(typeof received)[number]];
    expect(body).toBe('{"hello":"issuer"}');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['badgestream-delivery']).toBe(award.id);
    const timestamp = Number(headers['badgestream-timestamp']);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(headers['badgestream-signature']).toBe(`v1=${createHmac('sha256', 'whsec_local').update(`${timestamp}.${body}`).digest('hex')}`);
  });

  it('reports 503 with Retry-After as retry, 400 as failed, and keeps the start of the answer', async () => {
    answer = () => ({ status: 503, headers: { 'retry-after': '7' } });
    expect(await postWebhook(request())).toMatchObject({ outcome: 'retry', status: 503, retryAfterMs: 7000, error: 'HTTP 503: receiver says hello' });
    answer = () => ({ status: 400 });
    expect(await postWebhook(request())).toMatchObject({ outcome: 'failed', status: 400 });
  });

  it('gives up waiting after the timeout, to try again later', async () => {
    answer = () => ({ status: 200, delayMs: 1500 });
    const result = await postWebhook(request({ timeoutMs: 200 }));
    expect(result.outcome).toBe('retry');
    expect(result.error).toMatch(/no answer within 200 ms/);
  });

  it('treats a refused connection as worth retrying', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await postWebhook(request({ url: `http://127.0.0.1:${port}/` }))).outcome).toBe('retry');
  });

  it('refuses loopback destinations, by address or by name, unless allowed', async () => {
    received.length = 0;
    answer = () => ({ status: 200 });
    const byAddress = await postWebhook(request({ allowPrivateAddresses: false }));
    expect(byAddress).toMatchObject({ outcome: 'failed' });
    expect(byAddress.error).toMatch(/127\.0\.0\.1.*CRITERIA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES/);
    const byName = await postWebhook(request({ url: url.replace('127.0.0.1', 'localhost'), allowPrivateAddresses: false }));
    expect(byName).toMatchObject({ outcome: 'failed' });
    expect(byName.error).toMatch(/loopback, private or link-local/);
    expect(received).toHaveLength(0);
  });
});
