import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionEvent } from '../support/events.js';
import { envelopeOf, startIngestHarness, type IngestHarness } from '../support/ingest.js';

let h: IngestHarness;
beforeAll(async () => {
  h = await startIngestHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('graceful shutdown', () => {
  it('finishes a request that is in flight when shutdown starts, then refuses new connections', async () => {
    const body = JSON.stringify(envelopeOf([sessionEvent('https://example.edu/users/7', 'LoggedOut')]));
    const url = new URL(`${h.ingest.url}/caliper`);
    const half = Math.floor(body.length / 2);
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${h.tokens.sensor}` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      // The request is now in flight: start shutting down, then send the rest.
      setTimeout(() => {
        closing = h.ingest.close();
        setTimeout(() => req.end(body.slice(half)), 200);
      }, 100);
    });
    let closing: Promise<void> | undefined;
    expect(await response).toBe(200);
    await closing;
    await expect(fetch(`${h.ingest.url}/healthz`)).rejects.toThrow();
  });
});
