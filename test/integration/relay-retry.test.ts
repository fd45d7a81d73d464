import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoRelayStore } from '@badgestream/platform';
import { badgeEvent } from '../support/events.js';
import { startIngestHarness, type IngestHarness } from '../support/ingest.js';
import { IssuerStandIn, startRelayHarness, type RelayHarness } from '../support/relay.js';
import { requireStack } from '../support/stack.js';
import { badgestreamCli, type CliResult } from '../support/cli.js';

/**
 * `badgestream relay retry --wait`, run as the operator runs it, against a relay running here: dead
 * letters put back are followed until each has an outcome, with progress on stderr.
 */

let h: IngestHarness;
let relay: RelayHarness;
let store: MongoRelayStore;
let env: NodeJS.ProcessEnv;
// The fixed endpoint fails twice more, then takes everything; the broken one never does.
const standIn = new IssuerStandIn((p, n) => (p === '/caliper/fixed' && n > 2 ? { status: 200 } : { status: 503, retryAfter: '0' }));
const endpoint = (name: string) => `${standIn.origin}/caliper/${name}`;
const deadLetters: Record<string, string[]> = { fixed: [], broken: [] };

function badgestream(...args: string[]): Promise<CliResult> {
  return badgestreamCli(args, { env, timeoutMs: 90_000, fromSource: true });
}

beforeAll(async () => {
  const stack = await requireStack();
  env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri };
  h = await startIngestHarness();
  await standIn.start();
  store = new MongoRelayStore(h.mongo.db);
  await store.init();
  const at = new Date();
  for (const [name, count] of [
    ['fixed', 6],
    ['broken', 2],
  ] as const) {
    await store.putEndpoint(h.tenant, endpoint(name), { token: `token-for-${name}` });
    // Dead letters as the relay leaves them after its last attempt: the event and its partition kept.
    const events = Array.from({ length: count }, () => badgeEvent('Verified', `${standIn.origin}/assertions/${name}`));
    deadLetters[name] = events.map((e) => e.id);
    await store.recordOutcomes(
      events.map((e) => ({
        _id: `${h.tenant}|${e.id}`,
        tenant: h.tenant,
        endpoint: endpoint(name),
        eventId: e.id,
        outcome: 'dead' as const,
        attempts: 3,
        at,
        reason: 'gave up after 3 attempts; last error: HTTP 503',
        event: JSON.stringify(e),
        partition: 0,
      })),
    );
  }
  relay = await startRelayHarness(h, { RELAY_ALLOWED_PRIVATE_HOSTS: `127.0.0.1:${standIn.port}`, RELAY_MAX_ATTEMPTS: '3', RELAY_BREAKER_FAILURES: '100' });
});

afterAll(async () => {
  await relay?.close();
  await standIn.close();
  await h?.close();
});

const progressLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('retry: '));

describe('badgestream relay retry --wait', () => {
  it('follows the dead letters put back until each is delivered, with progress on stderr', async () => {
    const result = await badgestream('relay', 'retry', '--tenant', h.tenant, '--endpoint', endpoint('fixed'), '--wait', '--timeout', '60');
    expect(result).toMatchObject({ code: 0, stdout: `put back 6 dead letters of ${h.tenant} for ${endpoint('fixed')}\ndelivered 6 of 6, dead again 0, refused 0\n` });
    expect(progressLines(result.stderr).at(-1)).toBe('retry: 100% 6/6 dead letters, 6 delivered, 0 dead again, 0 refused');
    expect(result.stderr).not.toContain('put back');
    expect([...standIn.acknowledged('/caliper/fixed')].sort()).toEqual([...deadLetters.fixed!].sort());
    expect(standIn.requests('/caliper/fixed').filter((r) => r.status === 503).length).toBe(2);
  });

  it('exits 1 when some are given up again, saying how many', async () => {
    const result = await badgestream('relay', 'retry', '--tenant', h.tenant, '--endpoint', endpoint('broken'), '--wait', '--timeout', '60');
    expect(result).toMatchObject({ code: 1, stdout: `put back 2 dead letters of ${h.tenant} for ${endpoint('broken')}\ndelivered 0 of 2, dead again 2, refused 0\n` });
    expect(progressLines(result.stderr).at(-1)).toBe('retry: 100% 2/2 dead letters, 0 delivered, 2 dead again, 0 refused');
    expect(standIn.acknowledged('/caliper/broken')).toEqual([]);
    // They are dead letters again, ready for the next retry.
    expect((await store.deadLetters({ tenant: h.tenant, limit: 10 })).map((d) => d.eventId).sort()).toEqual([...deadLetters.broken!].sort());
  });
});
