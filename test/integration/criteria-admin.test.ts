import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CachedAuthenticator, MongoCriteriaDefinitions, MongoTenantDirectory, connectMongo, createLogger, type MongoConnection, type Scope } from '@badgestream/platform';
import { createCriteriaAdminRouter } from '../../services/criteria/src/admin-app.js';
import { registerCriteriaCommands } from '../../packages/cli/src/criteria-commands.js';
import { requireStack } from '../support/stack.js';
import { PYTHON_BASICS, pythonBasicsCriteria, retireCriteriaOf } from '../support/criteria-stream.js';
import { uniqueName } from '../support/ingest.js';

const BADGE = PYTHON_BASICS;
const criteriaDoc = pythonBasicsCriteria;

interface Tenant {
  name: string;
  tokens: Record<Scope, string>;
}

let mongo: MongoConnection;
let directory: MongoTenantDirectory;
let definitions: MongoCriteriaDefinitions;
let server: Server;
let baseUrl: string;
let mongodbUri: string;
const changes: { tenant: string; badgeClass: string }[] = [];

const tenantsCreated: string[] = [];

async function newTenant(): Promise<Tenant> {
  const name = uniqueName('criteria');
  await directory.createTenant(name);
  tenantsCreated.push(name);
  const tokens = {} as Record<Scope, string>;
  for (const scope of ['sensor', 'consumer', 'reader', 'admin'] as const) tokens[scope] = (await directory.createKey(name, scope)).token;
  return { name, tokens };
}

async function call(method: string, route: string, options: { token?: string | null; body?: unknown; contentType?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { errors?: { pointer: string; reason: string }[] } };
}

const showPath = (version: number | 'latest', badgeClass = BADGE) => `/admin/criteria/${version}?badgeClass=${encodeURIComponent(badgeClass)}`;

beforeAll(async () => {
  const stack = await requireStack();
  mongodbUri = stack.mongodbUri;
  mongo = await connectMongo(stack.mongodbUri);
  directory = new MongoTenantDirectory(mongo.db);
  definitions = new MongoCriteriaDefinitions(mongo.db);
  await Promise.all([directory.init(), definitions.init()]);
  const app = express();
  app.use(
    '/admin',
    createCriteriaAdminRouter({ definitions, authenticator: new CachedAuthenticator(directory, 0), logger: createLogger('criteria-admin-test', 'silent'), onChange: (c) => changes.push(c) }),
  );
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (definitions) await retireCriteriaOf(definitions, tenantsCreated);
  await mongo?.close();
});

describe('the criteria admin API (/admin/criteria)', () => {
  it('stores drafts, lists and shows them, activates one version at a time and retires', async () => {
    const { name: tenant, tokens } = await newTenant();
    const admin = tokens.admin;

    const created = await call('PUT', '/admin/criteria', { token: admin, body: criteriaDoc(1) });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(showPath(1));
    expect(created.body).toMatchObject({ badgeClass: BADGE, version: 1, status: 'draft', name: 'Python Basics', criteria: criteriaDoc(1) });

    // The same document again, keys in another order and with the editor's $schema hint: unchanged.
    const { name, ...rest } = criteriaDoc(1);
    const again = await call('PUT', '/admin/criteria', { token: admin, body: { $schema: 'https://w3id.org/badgestream/schemas/criteria/criteria.schema.json', ...rest, name } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 1, status: 'draft', createdAt: created.body.createdAt });

    expect((await call('PUT', '/admin/criteria', { token: admin, body: criteriaDoc(2, { window: 'P60D' }) })).status).toBe(201);
    expect((await call('PUT', '/admin/criteria', { token: admin, body: { ...criteriaDoc(1), badgeClass: 'https://issuer.example/badges/other' } })).status).toBe(201);

    const listed = await call('GET', '/admin/criteria', { token: admin });
    expect((listed.body.criteria as { badgeClass: string; version: number; status: string }[]).map((c) => [c.badgeClass, c.version, c.status])).toEqual([
      ['https://issuer.example/badges/other', 1, 'draft'],
      [BADGE, 1, 'draft'],
      [BADGE, 2, 'draft'],
    ]);
    const filtered = await call('GET', `/admin/criteria?badgeClass=${encodeURIComponent(BADGE)}`, { token: admin });
    expect((filtered.body.criteria as unknown[]).length).toBe(2);

    expect((await call('GET', showPath(1), { token: admin })).body).toMatchObject({ version: 1, criteria: { window: 'P90D' } });
    expect((await call('GET', showPath('latest'), { token: admin })).body).toMatchObject({ version: 2, criteria: { window: 'P60D' } });
    expect((await call('GET', showPath(3), { token: admin })).status).toBe(404);
    expect((await call('GET', '/admin/criteria/2', { token: admin })).status).toBe(400);
    expect((await call('GET', showPath(0), { token: admin })).status).toBe(400);

    const first = await call('POST', '/admin/criteria/activate', { token: admin, body: { badgeClass: BADGE, version: 1 } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ activated: { version: 1, status: 'active' }, retired: [] });
    expect((await definitions.active(tenant)).map((d) => d.version)).toEqual([1]);
    expect(changes).toContainEqual({ tenant, badgeClass: BADGE });

    const second = await call('POST', '/admin/criteria/activate', { token: admin, body: { badgeClass: BADGE, version: 2 } });
    expect(second.body).toMatchObject({ activated: { version: 2, status: 'active' }, retired: [{ version: 1, status: 'retired' }] });
    expect((await definitions.active(tenant)).map((d) => [d.badgeClass, d.version])).toEqual([[BADGE, 2]]);
    expect((await definitions.activeForAllTenants()).filter((d) => d.tenant === tenant).map((d) => d.version)).toEqual([2]);

    // Rolling back to version 1 retires version 2.
    const rollback = await call('POST', '/admin/criteria/activate', { token: admin, body: { badgeClass: BADGE, version: 1 } });
    expect(rollback.body).toMatchObject({ activated: { version: 1, status: 'active' }, retired: [{ version: 2 }] });
    expect((await definitions.active(tenant)).map((d) => d.version)).toEqual([1]);

    const retired = await call('POST', '/admin/criteria/retire', { token: admin, body: { badgeClass: BADGE, version: 1 } });
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ version: 1, status: 'retired' });
    expect(await definitions.active(tenant)).toEqual([]);

    expect((await call('POST', '/admin/criteria/activate', { token: admin, body: { badgeClass: BADGE, version: 9 } })).status).toBe(404);
    expect((await call('POST', '/admin/criteria/retire', { token: admin, body: { badgeClass: BADGE } })).status).toBe(400);
  });

  it('lists every problem of an invalid document by JSON pointer, and stores nothing', async () => {
    const { name: tenant, tokens } = await newTenant();
    const invalid = criteriaDoc(1, {
      window: '90 days',
      whenUnmet: 'delete',
      order: [['quizzes', 'missing']],
    });
    const response = await call('PUT', '/admin/criteria', { token: tokens.admin, body: invalid });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body.type).toBe('https://w3id.org/badgestream/problems/invalid-criteria');
    expect(response.body.errors).toEqual(
      expect.arrayContaining([
        { pointer: '/window', reason: expect.stringContaining('ISO 8601 duration') as string },
        { pointer: '/whenUnmet', reason: 'must be one of "revoke", "keep"' },
      ]),
    );
    expect(response.body.title).toContain(`${response.body.errors!.length} problems`);

    const semantic = await call('PUT', '/admin/criteria', { token: tokens.admin, body: criteriaDoc(1, { order: [['quizzes', 'missing']] }) });
    expect(semantic.body.errors).toEqual([{ pointer: '/order/0/1', reason: 'no event requirement has the id "missing"' }]);

    expect((await call('PUT', '/admin/criteria', { token: tokens.admin, body: '{"badgeClass": ' })).status).toBe(400);
    expect((await call('PUT', '/admin/criteria', { token: tokens.admin, body: criteriaDoc(1), contentType: 'text/plain' })).status).toBe(415);
    expect(await definitions.list(tenant)).toEqual([]);
  });

  it('refuses another document under a stored version (409), saying to bump the version', async () => {
    const { tokens } = await newTenant();
    await call('PUT', '/admin/criteria', { token: tokens.admin, body: criteriaDoc(1) });
    await call('PUT', '/admin/criteria', { token: tokens.admin, body: criteriaDoc(2) });
    const conflict = await call('PUT', '/admin/criteria', { token: tokens.admin, body: criteriaDoc(1, { window: 'P30D' }) });
    expect(conflict.status).toBe(409);
    expect(conflict.body.detail).toContain('bump "version" to 3');
    expect((await call('GET', showPath(1), { token: tokens.admin })).body).toMatchObject({ criteria: { window: 'P90D' } });
  });

  it("keeps tenants apart: another tenant's admin key sees and changes nothing of this tenant's criteria", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await call('PUT', '/admin/criteria', { token: a.tokens.admin, body: criteriaDoc(1) });

    expect((await call('GET', `/admin/criteria?tenant=${a.name}`, { token: b.tokens.admin })).body).toEqual({ criteria: [] });
    expect((await call('GET', showPath(1), { token: b.tokens.admin })).status).toBe(404);
    expect((await call('POST', '/admin/criteria/activate', { token: b.tokens.admin, body: { badgeClass: BADGE, version: 1 } })).status).toBe(404);
    expect((await call('POST', '/admin/criteria/retire', { token: b.tokens.admin, body: { badgeClass: BADGE, version: 1 } })).status).toBe(404);
    expect((await call('PUT', '/admin/criteria', { token: b.tokens.admin, body: { ...criteriaDoc(1), tenant: a.name } })).status).toBe(400);

    // The same badge class and version under tenant B is B's own, and activating it leaves A's alone.
    expect((await call('PUT', '/admin/criteria', { token: b.tokens.admin, body: criteriaDoc(1, { window: 'P7D' }) })).status).toBe(201);
    expect((await call('POST', '/admin/criteria/activate', { token: b.tokens.admin, body: { badgeClass: BADGE, version: 1 } })).status).toBe(200);
    expect(await definitions.get(a.name, BADGE, 1)).toMatchObject({ status: 'draft', criteria: { window: 'P90D' } });
    expect(await definitions.active(a.name)).toEqual([]);
  });

  it('answers 401 without a valid token and 403 to keys of another scope', async () => {
    const { tokens } = await newTenant();
    const missing = await call('GET', '/admin/criteria');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect((await call('GET', '/admin/criteria', { token: 'bgs_0000000000000000_nope' })).status).toBe(401);
    for (const scope of ['sensor', 'consumer', 'reader'] as const) {
      const forbidden = await call('PUT', '/admin/criteria', { token: tokens[scope], body: criteriaDoc(1) });
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toMatchObject({ type: 'https://w3id.org/badgestream/problems/forbidden-scope', detail: `this key has scope ${scope}` });
    }
    expect((await call('POST', '/admin/criteria/activate', { token: tokens.sensor, body: { badgeClass: BADGE, version: 1 } })).status).toBe(403);
  });
});

describe('activation without transactions', () => {
  const mirrored = async (tenant: string) =>
    (await mongo.db.collection<{ tenant: string; version: number; status: string }>('criteria_definitions').find({ tenant }).sort({ version: 1 }).toArray()).map((d) => d.status);

  it('after a crash between logging an activation and updating the statuses, the version activated last is in force', async () => {
    const { name: tenant } = await newTenant();
    for (const version of [1, 2, 3]) await definitions.put(tenant, criteriaDoc(version));
    await definitions.activate(tenant, BADGE, 3);
    await definitions.activate(tenant, BADGE, 1);
    // The first write of activating version 2 (its log entry), then a crash before the statuses follow.
    const log = mongo.db.collection<{ _id: string; tenant: string; badgeClass: string; seq: number; action: string; version: number; at: Date }>('criteria_activations');
    await log.insertOne({ _id: `${tenant}|${BADGE}|3`, tenant, badgeClass: BADGE, seq: 3, action: 'activate', version: 2, at: new Date() });
    expect(await mirrored(tenant)).toEqual(['active', 'draft', 'retired']);

    expect((await definitions.active(tenant)).map((d) => d.version)).toEqual([2]);
    expect((await definitions.activeForAllTenants()).filter((d) => d.tenant === tenant).map((d) => [d.version, d.status])).toEqual([[2, 'active']]);
    expect((await definitions.list(tenant)).map((d) => d.status)).toEqual(['retired', 'active', 'retired']);

    // Running the activation again brings the statuses up to date.
    expect((await definitions.activate(tenant, BADGE, 2)).definition.status).toBe('active');
    expect(await mirrored(tenant)).toEqual(['retired', 'active', 'retired']);
  });

  it('concurrent activations leave exactly one version in force', async () => {
    const { name: tenant } = await newTenant();
    for (const version of [1, 2, 3, 4]) await definitions.put(tenant, criteriaDoc(version));
    for (let round = 0; round < 5; round++) {
      const outcomes = await Promise.all([1, 2, 3, 4].map((version) => definitions.activate(tenant, BADGE, version)));
      const active = (await definitions.list(tenant)).filter((d) => d.status === 'active');
      expect(active).toHaveLength(1);
      expect((await definitions.active(tenant)).map((d) => d.version)).toEqual([active[0]!.version]);
      expect(outcomes.filter((o) => o.definition.status === 'active').length).toBeGreaterThanOrEqual(1);
      expect((await mirrored(tenant)).filter((status) => status === 'active')).toHaveLength(1);
    }
    await definitions.retire(tenant, BADGE, (await definitions.active(tenant))[0]!.version);
    expect(await definitions.active(tenant)).toEqual([]);
  });
});

describe('badgestream criteria … (the command functions, in process)', () => {
  let dir: string;
  let out: string[];
  let err: string[];

  async function criteria(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    out = [];
    err = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...line: unknown[]) => void out.push(line.join(' ')));
    const error = vi.spyOn(console, 'error').mockImplementation((...line: unknown[]) => void err.push(line.join(' ')));
    const program = new Command('badgestream').exitOverride().configureOutput({ writeErr: (text) => void err.push(text.trimEnd()), writeOut: (text) => void out.push(text.trimEnd()) });
    registerCriteriaCommands(program);
    let code: number;
    try {
      await program.parseAsync(['criteria', ...args], { from: 'user' });
      code = Number(process.exitCode ?? 0);
    } catch (caught) {
      err.push((caught as Error).message);
      code = 1;
    } finally {
      process.exitCode = undefined;
      log.mockRestore();
      error.mockRestore();
    }
    return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join('') };
  }

  async function file(name: string, content: unknown): Promise<string> {
    const target = path.join(dir, name);
    await writeFile(target, typeof content === 'string' ? content : JSON.stringify(content));
    return target;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'criteria-cli-'));
    process.env.MONGODB_URI = mongodbUri;
  });
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('puts, activates, lists and shows criteria of a tenant', async () => {
    const { name: tenant } = await newTenant();
    const v1 = await file('v1.json', criteriaDoc(1));
    const v2 = await file('v2.json', criteriaDoc(2, { window: 'P60D' }));

    expect(await criteria('put', v1, '--tenant', tenant)).toMatchObject({ code: 0, stdout: `stored: ${BADGE} version 1 (draft)\n` });
    expect(await criteria('put', v1, '--tenant', tenant)).toMatchObject({ code: 0, stdout: `unchanged: ${BADGE} version 1 (draft)\n` });
    expect(await criteria('activate', '--tenant', tenant, '--badge-class', BADGE, '--version', '1')).toMatchObject({ code: 0, stdout: `activated: ${BADGE} version 1 (active)\n` });
    expect(await criteria('put', v2, '--tenant', tenant, '--activate')).toMatchObject({
      code: 0,
      stdout: `stored: ${BADGE} version 2 (draft)\nactivated: ${BADGE} version 2 (active)\nretired: ${BADGE} version 1 (retired)\n`,
    });

    const listed = await criteria('list', '--tenant', tenant);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('\t').slice(0, 3)),
    ).toEqual([
      [BADGE, '1', 'retired'],
      [BADGE, '2', 'active'],
    ]);
    const shown = JSON.parse((await criteria('show', '--tenant', tenant, '--badge-class', BADGE)).stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ tenant, version: 2, status: 'active', criteria: { window: 'P60D' } });
    expect(JSON.parse((await criteria('show', '--tenant', tenant, '--badge-class', BADGE, '--version', '1')).stdout)).toMatchObject({ version: 1, status: 'retired' });
    expect(await criteria('show', '--tenant', tenant, '--badge-class', BADGE, '--version', '7')).toMatchObject({ code: 1, stderr: expect.stringContaining('has no version 7') as string });
  });

  it('prints each validation problem as FILE: /pointer: reason and exits 1, storing nothing', async () => {
    const { name: tenant } = await newTenant();
    const bad = await file('bad.json', criteriaDoc(1, { window: '90 days', whenUnmet: 'delete' }));
    const result = await criteria('put', bad, '--tenant', tenant);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${bad}: /window: must be an ISO 8601 duration`);
    expect(result.stderr).toContain(`${bad}: /whenUnmet: must be one of "revoke", "keep"`);
    expect(await definitions.list(tenant)).toEqual([]);

    expect(await criteria('validate', bad)).toMatchObject({ code: 1, stderr: expect.stringContaining(`${bad}: /window:`) as string });
    expect(await criteria('validate', await file('good.json', criteriaDoc(1)))).toMatchObject({ code: 0 });
    expect(await criteria('put', await file('broken.json', '{"badgeClass":'), '--tenant', tenant)).toMatchObject({ code: 1, stderr: expect.stringContaining('not valid JSON') as string });
    expect(await criteria('put', await file('ok.json', criteriaDoc(1)), '--tenant', uniqueName('nobody'))).toMatchObject({ code: 1, stderr: expect.stringContaining('does not exist') as string });
    expect(await criteria('activate', '--tenant', tenant, '--badge-class', BADGE, '--version', 'two')).toMatchObject({ code: 1, stderr: expect.stringContaining('positive integer') as string });
  });

  it('documents every option in --help', async () => {
    const help = (command: string) => {
      const program = new Command('badgestream');
      registerCriteriaCommands(program);
      const sub = program.commands.find((c) => c.name() === 'criteria')!.commands.find((c) => c.name() === command)!;
      return sub.helpInformation();
    };
    expect(help('put')).toMatch(/--tenant <name>[\s\S]*--activate/);
    expect(help('show')).toMatch(/--badge-class <iri>[\s\S]*--version <n>/);
    expect(help('activate')).toMatch(/--tenant <name>[\s\S]*--badge-class <iri>[\s\S]*--version <n>/);
    expect(help('list')).toContain('--tenant <name>');
  });
});
