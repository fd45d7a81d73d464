import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireStack } from '../support/stack.js';
import { sessionEvent } from '../support/events.js';
import { REPO_ROOT, envelopeOf, startIngestHarness, uniqueName } from '../support/ingest.js';

const run = promisify(execFile);
const BIN = path.join(REPO_ROOT, 'bin/badgestream.js');
let env: NodeJS.ProcessEnv;

async function badgestream(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
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
    const r = await run(process.execPath, [BIN, 'tenants', 'list'], { env: { ...env, MONGODB_URI: 'postgres://nowhere' } }).catch((e: { code: number; stderr: string }) => e);
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
});
