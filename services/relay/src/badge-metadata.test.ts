import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadgeMetadata } from './badge-metadata.js';

/** A badge host on 127.0.0.1 serving scripted answers, and what it was asked. */
let server: Server;
let origin = '';
const requests: string[] = [];
const routes = new Map<string, { status?: number; type?: string; body: string; delayMs?: number }>();
const ext = (endpoint: string, actions = ['Verified']) => ({ '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': endpoint, actions });

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url!);
    const route = routes.get(req.url!);
    if (!route) return void res.writeHead(404).end();
    const answer = () => res.writeHead(route.status ?? 200, { 'content-type': route.type ?? 'application/json' }).end(route.body);
    if (route.delayMs) setTimeout(answer, route.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const serve = (path: string, object: Record<string, unknown>, extra: { status?: number; type?: string; delayMs?: number } = {}) => routes.set(path, { body: JSON.stringify({ id: `${origin}${path}`, ...object }), ...extra });
  serve('/issuer', { type: 'Issuer', 'ims:TBAcaliperApi': ext('https://issuer.example/caliper', ['Verified', 'Shared']) });
  serve('/badges/plain', { type: 'BadgeClass', issuer: `${origin}/issuer` });
  serve('/assertions/1', { type: 'Assertion', badge: `${origin}/badges/plain` });
  serve('/badges/private', { type: 'BadgeClass', 'ims:TBAcaliperApi': ext('http://10.1.2.3/caliper') });
  serve('/badges/html', { type: 'BadgeClass' }, { type: 'text/html' });
  serve('/badges/big', { type: 'BadgeClass', padding: 'x'.repeat(5000) });
  serve('/badges/slow', { type: 'BadgeClass' }, { delayMs: 1000 });
  serve('/badges/broken', { type: 'BadgeClass' }, { status: 503 });
  serve('/badges/bad-extension', { type: 'BadgeClass', 'ims:TBAcaliperApi': ext('https://issuer.example/caliper', ['Liked']) });
  routes.set('/badges/impostor', { body: JSON.stringify({ id: 'https://someone-else.example/badges/1', type: 'BadgeClass' }) });
  routes.set('/badges/not-json', { body: '{"id": ' });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const metadata = (allowed = true) =>
  new BadgeMetadata({ timeoutMs: 300, maxBytes: 4096, cacheTtlMs: 60_000, cacheMaxEntries: 100, destinations: { allowPrivateAddresses: false, allowedPrivateHosts: allowed ? [origin.slice('http://'.length)] : [], hint: 'test hint' } });

describe('reading what a badge object advertises', () => {
  it('follows an assertion to its badge class and issuer, once, then answers from the cache', async () => {
    const m = metadata();
    const before = requests.length;
    const expected = { kind: 'endpoint', endpoint: { endpoint: 'https://issuer.example/caliper', actions: ['Verified', 'Shared'] }, advertisedBy: `${origin}/issuer` };
    expect(await m.resolve(`${origin}/assertions/1`)).toEqual(expected);
    expect(await m.resolve({ id: `${origin}/assertions/1`, type: 'Assertion' })).toEqual(expected);
    expect(requests.slice(before)).toEqual(['/assertions/1', '/badges/plain', '/issuer']);
  });

  it('refuses, with the reason, what can never be used', async () => {
    const m = metadata();
    const reason = async (path: string) => ((await m.resolve(`${origin}${path}`)) as { kind: string; reason: string });
    expect(await reason('/badges/private')).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/advertises http:\/\/10\.1\.2\.3\/caliper: refused: .*a loopback, private or link-local address \(test hint\)/) });
    expect(await reason('/badges/html')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('"text/html", not JSON') });
    expect(await reason('/badges/big')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('larger than 4096 bytes') });
    expect(await reason('/badges/impostor')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('names itself "https://someone-else.example/badges/1"') });
    expect(await reason('/badges/not-json')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('not valid JSON') });
    expect(await reason('/badges/bad-extension')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('"Liked"') });
    expect(await reason('/badges/missing')).toMatchObject({ kind: 'refused', reason: expect.stringContaining('HTTP 404') });
  });

  it('retries later what may pass: a timeout, a 5xx', async () => {
    const m = metadata();
    expect(await m.resolve(`${origin}/badges/slow`)).toMatchObject({ kind: 'retry', reason: expect.stringContaining('no answer within 300 ms') });
    expect(await m.resolve(`${origin}/badges/broken`)).toMatchObject({ kind: 'retry', reason: expect.stringContaining('HTTP 503') });
  });

  it('never connects to a private address that is not allowed', async () => {
    const before = requests.length;
    expect(await metadata(false).resolve(`${origin}/assertions/1`)).toMatchObject({ kind: 'refused', reason: expect.stringContaining('loopback, private or link-local') });
    expect(requests.length).toBe(before);
  });

  it('relays nothing for an object without the extension anywhere', async () => {
    routes.set('/badges/lonely', { body: JSON.stringify({ id: `${origin}/badges/lonely`, type: 'BadgeClass' }) });
    expect(await metadata().resolve(`${origin}/badges/lonely`)).toMatchObject({ kind: 'none' });
  });
});
