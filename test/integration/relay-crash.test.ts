import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_BADGES_CONTEXT_IRI } from '@badgestream/profile-open-badges';
import { MongoRelayStore } from '@badgestream/platform';
import { CALIPER_V1P2, REPO_ROOT, envelopeOf, eventId, startIngestHarness, uniqueName, type IngestHarness } from '../support/ingest.js';
import { startGroupAt } from '../support/criteria-stream.js';
import { IssuerStandIn, until } from '../support/relay.js';
import { requireStack } from '../support/stack.js';

/**
 * The relay killed with SIGKILL (the built `badgestream serve relay`, as deployed) while an issuer
 * endpoint is down: a new process delivers every event once the endpoint is back, and none twice.
 * The endpoint acknowledges nothing before the kill, so "none twice" is exact, not a race.
 */

let h: IngestHarness;
let standIn: IssuerStandIn;
let store: MongoRelayStore;
let env: NodeJS.ProcessEnv;
let child: ChildProcess | undefined;
let up = false;
const tenant = uniqueName('crash-consumer');
let sensor = '';

function startRelayProcess(): ChildProcess {
  const relay = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/badgestream.js'), 'serve', 'relay'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  child = relay;
  return relay;
}

beforeAll(async () => {
  const stack = await requireStack();
  h = await startIngestHarness();
  await h.directory.createTenant(tenant);
  sensor = (await h.directory.createKey(tenant, 'sensor')).token;
  standIn = new IssuerStandIn((p) => (p === '/caliper' && up ? { status: 200 } : { status: 503 }));
  await standIn.start();
  const ext = { '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': `${standIn.origin}/caliper`, actions: ['Verified'] };
  standIn.serve('/badges/1', { id: `${standIn.origin}/badges/1`, type: 'BadgeClass', 'ims:TBAcaliperApi': ext });
  store = new MongoRelayStore(h.mongo.db);
  await store.init();
  await store.putEndpoint(tenant, `${standIn.origin}/caliper`, { token: 'crash-token' });
  const groupId = uniqueName('relay-crash');
  await startGroupAt(h.kafka, groupId);
  env = {
    ...process.env,
    KAFKA_BROKERS: stack.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    MONGODB_URI: stack.mongodbUri,
    RELAY_PORT: '0',
    RELAY_GROUP_ID: groupId,
    RELAY_SESSION_TIMEOUT_MS: '6000',
    RELAY_POLL_MS: '50',
    RELAY_BACKOFF_BASE_MS: '100',
    RELAY_BACKOFF_MAX_MS: '400',
    RELAY_BREAKER_FAILURES: '3',
    RELAY_BREAKER_COOLDOWN_MS: '1000',
    RELAY_MAX_ATTEMPTS: '50',
    RELAY_ALLOWED_PRIVATE_HOSTS: `127.0.0.1:${standIn.port}`,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await standIn?.close();
  await h?.close();
});

describe('the relay killed while an endpoint is down', () => {
  it('loses nothing and sends nothing twice', async () => {
    const N = 30;
    const events = Array.from({ length: N }, (_, i) => ({
      '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2],
      id: eventId(),
      type: 'BadgeEvent',
      actor: { id: `https://verify.example/crash/${i % 7}`, type: 'SoftwareApplication' },
      action: 'Verified',
      object: `${standIn.origin}/badges/1`,
      eventTime: '2026-11-20T09:00:00.000Z',
    }));
    const first = startRelayProcess();
    for (let i = 0; i < N; i += 5) expect((await h.post(envelopeOf(events.slice(i, i + 5)), { token: sensor })).status).toBe(200);
    await until('the endpoint tried and failing', () => standIn.requests('/caliper').length, (n) => n >= 2);
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(standIn.acknowledged('/caliper')).toEqual([]);

    startRelayProcess();
    up = true;
    const acked = await until('every event acknowledged after the restart', () => standIn.acknowledged('/caliper'), (ids) => ids.length >= N, 90_000);
    expect([...acked].sort()).toEqual(events.map((e) => e.id).sort());
    const status = await until('recorded', async () => (await store.status(tenant))[0], (s) => s?.delivered === N && s.backlog === 0);
    expect(status).toMatchObject({ delivered: N, dead: 0, refused: 0 });
    expect(standIn.acknowledged('/caliper')).toHaveLength(N);
  });
});
