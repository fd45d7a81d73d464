import { beforeAll, describe, expect, it } from 'vitest';
import { requireStack } from '../support/stack.js';
import { sessionEvent } from '../support/events.js';
import { MongoRelayStore, connectMongo } from '@badgestream/platform';
import { envelopeOf, startIngestHarness, uniqueName } from '../support/ingest.js';
import { badgestreamCli, type CliResult } from '../support/cli.js';

let env: NodeJS.ProcessEnv;

function badgestream(...args: string[]): Promise<CliResult> {
  return badgestreamCli(args, { env, timeoutMs: 30_000 });
}

beforeAll(async () => {
  const stack = await requireStack();
  env = { ...process.env, MONGODB_URI: stack.mongodbUri, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl };
});

describe('the badgestream CLI (the built bin of the root package)', () => {
  it('creates a tenant, prints only the token of a new key, lists and revokes keys', async () => {
    const tenant = uniqueName('cli');
    expect(await badgestream('tenants', 'create', tenant)).toMatchObject({ code: 0, stdout: `created tenant ${tenant}\n` });
    expect((await badgestream('tenants', 'list')).stdout).toContain(tenant);

    const created = await badgestream('keys', 'create', '--tenant', tenant, '--scope', 'sensor', '--label', 'LMS production');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^bgs_[a-z0-9]{16}_[A-Za-z0-9_-]{43}\n$/);
    const token = created.stdout.trim();
    const keyId = token.split('_')[1]!;

    const listed = await badgestream('keys', 'list', '--tenant', tenant);
    expect(listed.stdout).toContain(keyId);
    expect(listed.stdout).toContain('active');
    expect(listed.stdout).toContain('LMS production');
    expect(listed.stdout).not.toContain(token);

    expect(await badgestream('keys', 'revoke', token)).toMatchObject({ code: 0, stdout: `revoked key ${keyId} of tenant ${tenant}\n` });
    expect((await badgestream('keys', 'list', '--tenant', tenant)).stdout).toContain('revoked');
  });

  it('says clearly what is wrong with bad input, with a non-zero exit code', async () => {
    const duplicate = uniqueName('cli');
    await badgestream('tenants', 'create', duplicate);
    expect(await badgestream('tenants', 'create', duplicate)).toMatchObject({ code: 1, stderr: expect.stringContaining('already exists') as string });
    expect(await badgestream('tenants', 'create', 'Not A Name')).toMatchObject({ code: 1, stderr: expect.stringContaining('a-z, 0-9') as string });
    expect(await badgestream('keys', 'create', '--tenant', uniqueName('missing'), '--scope', 'sensor')).toMatchObject({ code: 1, stderr: expect.stringContaining('does not exist') as string });
    const badScope = await badgestream('keys', 'create', '--tenant', duplicate, '--scope', 'root');
    expect(badScope.code).not.toBe(0);
    expect(badScope.stderr).toContain('sensor, consumer, reader, admin');
    expect(await badgestream('keys', 'revoke', 'nope')).toMatchObject({ code: 1, stderr: expect.stringContaining('does not exist') as string });
  });

  it('rejects invalid configuration before connecting, naming the variable', async () => {
    const r = await badgestreamCli(['tenants', 'list'], { env: { ...env, MONGODB_URI: 'postgres://nowhere' }, timeoutMs: 30_000 });
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('MONGODB_URI') as string });
  });

  it('tails a topic: what a sensor posted, decoded through the registry, for one tenant', async () => {
    const h = await startIngestHarness();
    try {
      const event = sessionEvent('https://example.edu/users/554433');
      expect((await h.post(envelopeOf([event]))).status).toBe(200);
      const tail = await badgestream('events', 'tail', '--from-beginning', '--tenant', h.tenant, '--limit', '1', '--idle', '20000');
      expect(tail.code).toBe(0);
      const record = JSON.parse(tail.stdout.trim()) as { key: string; headers: Record<string, string>; value: unknown };
      expect(record.key).toBe(`${h.tenant}|https://example.edu/users/554433`);
      expect(record.headers['badgestream-event-id']).toBe(event.id);
      expect(record.value).toEqual(event);
    } finally {
      await h.close();
    }
  });

  it('documents every option in --help', async () => {
    const help = await badgestream('serve', 'ingest', '--help');
    for (const variable of ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'MONGODB_URI', 'INGEST_PORT', 'INGEST_MAX_PAYLOAD_KB', 'INGEST_AUTH_CACHE_TTL_MS', 'LOG_LEVEL']) {
      expect(help.stdout).toContain(variable);
    }
    expect((await badgestream('keys', 'create', '--help')).stdout).toContain('--scope');
  });

  it('registers the endpoints a tenant relays to, and shows the relay status per endpoint', async () => {
    const tenant = uniqueName('cli-relay');
    await badgestream('tenants', 'create', tenant);
    const endpoint = 'https://issuer.example/caliper';
    const withToken = { ...env, ISSUER_TOKEN: 'bgs_from_the_issuer' };
    const added = await badgestreamCli(['relay', 'endpoints', 'add', '--tenant', tenant, '--endpoint', endpoint, '--token-env', 'ISSUER_TOKEN'], { env: withToken, timeoutMs: 30_000 });
    expect(added.stdout).toBe(`relaying ${tenant} to ${endpoint} (bearer token)\n`);
    const listed = await badgestream('relay', 'endpoints', 'list', '--tenant', tenant);
    expect(listed.stdout).toContain(`${tenant}\t${endpoint}\ttoken\t-`);
    expect(listed.stdout).not.toContain('bgs_from_the_issuer');
    expect(await badgestream('relay', 'endpoints', 'add', '--tenant', tenant, '--endpoint', endpoint)).toMatchObject({ code: 1, stderr: expect.stringContaining('give a bearer token') as string });
    expect(await badgestream('relay', 'endpoints', 'add', '--tenant', tenant, '--endpoint', endpoint, '--token-env', 'NOT_SET_ANYWHERE')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('NOT_SET_ANYWHERE is empty or not set') as string,
    });

    const mongo = await connectMongo(env.MONGODB_URI!);
    try {
      const store = new MongoRelayStore(mongo.db);
      const at = new Date();
      await store.recordOutcomes([
        { _id: `${tenant}|urn:uuid:1`, tenant, endpoint, eventId: 'urn:uuid:1', outcome: 'delivered', attempts: 1, at },
        {
          _id: `${tenant}|urn:uuid:2`,
          tenant,
          endpoint,
          eventId: 'urn:uuid:2',
          outcome: 'dead',
          attempts: 10,
          at,
          reason: 'gave up after 10 attempts; last error: HTTP 500',
          event: '{}',
          partition: 0,
        },
      ]);
      await store.addPending([{ _id: `${tenant}|urn:uuid:3`, tenant, partition: 0, eventId: 'urn:uuid:3', endpoint, event: '{}', createdAt: at }]);
    } finally {
      await mongo.close();
    }
    const status = await badgestream('relay', 'status', '--tenant', tenant);
    expect(status.stdout.split('\n')).toEqual(['tenant\tendpoint\tbacklog\tdelivered\tfailed-attempts\tdead\trefused', `${tenant}\t${endpoint}\t1\t1\t0\t1\t0`, '']);
    const dead = await badgestream('relay', 'dead-letters', '--tenant', tenant);
    expect(JSON.parse(dead.stdout)).toMatchObject({ tenant, endpoint, eventId: 'urn:uuid:2', attempts: 10, reason: expect.stringContaining('HTTP 500') });
    expect(await badgestream('relay', 'retry', '--tenant', tenant, '--endpoint', endpoint)).toMatchObject({ code: 0, stdout: `put back 1 dead letter of ${tenant} for ${endpoint}\n` });
    expect((await badgestream('relay', 'status', '--tenant', tenant)).stdout).toContain(`${tenant}\t${endpoint}\t2\t1\t0\t0\t0`);
    expect(await badgestream('relay', 'endpoints', 'remove', '--tenant', tenant, '--endpoint', endpoint)).toMatchObject({ code: 0 });
  });
});
