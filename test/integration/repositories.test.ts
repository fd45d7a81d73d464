/**
 * The contract of the repositories not covered elsewhere, on both stores: the tenant directory,
 * criteria definitions, issuer and reporting settings, hosted badge objects, the relay's records,
 * the reporting store and the LRS connector's record of what it pushed. Each behaves the same over
 * the MongoDB-wire server and the embedded document store, and keeps what it stored across a
 * reopen (for the embedded store: rebuilt from its data directory, as a restart would).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_ACTIONS } from '@badgestream/profile-open-badges';
import {
  ConflictError,
  InvalidCriteriaError,
  InvalidInputError,
  MongoCriteriaDefinitions,
  MongoHostedBadgeObjects,
  MongoIssuerSettings,
  MongoRelayStore,
  MongoReportingSettings,
  MongoTenantDirectory,
  NotFoundError,
  createLogger,
  createMetricsRegistry,
  hashSecret,
  parseToken,
  type PendingRelay,
  type RelayAttempt,
  type RelayOutcome,
} from '@badgestream/platform';
import { LostPartitionError, LrsConnector, MongoReportingStore, encodeFacts, type Fact, type SliceEntry } from '@badgestream/reporting';
import { STORES, openStore, type OpenedStore } from '../support/stores.js';
import { PYTHON_BASICS, pythonBasicsCriteria } from '../support/criteria-stream.js';
import { uniqueName } from '../support/ingest.js';

const BADGE = PYTHON_BASICS;
const criteriaDoc = pythonBasicsCriteria;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

/**
 * The Db, except that the first findOne in `collection` lets `meanwhile` run before it answers:
 * a concurrent change, landing for certain between a repository's read and the write after it.
 */
function withChangeBetween(db: Db, collection: string, meanwhile: () => Promise<unknown>): Db {
  let changed = false;
  const member = (target: object, prop: string | symbol): unknown => {
    const value = Reflect.get(target, prop) as unknown;
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  };
  return new Proxy(db, {
    get: (target, prop) => {
      if (prop !== 'collection') return member(target, prop);
      return (name: string) => {
        const handle = target.collection(name);
        if (name !== collection) return handle;
        return new Proxy(handle, {
          get: (c, p) => {
            if (p !== 'findOne') return member(c, p);
            return async (...args: unknown[]) => {
              const found = await (c.findOne as (...a: unknown[]) => Promise<unknown>)(...args);
              if (!changed) {
                changed = true;
                await meanwhile();
              }
              return found;
            };
          },
        });
      };
    },
  });
}

/** A learning record store stood in for by a local HTTP server: the statements it took, by id. */
class LrsStandIn {
  readonly statements = new Map<string, Record<string, unknown>>();
  posts = 0;
  private server: http.Server | undefined;

  async start(): Promise<{ endpoint: string; host: string }> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts++;
        const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>[];
        for (const s of batch) this.statements.set(s.id as string, s);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch.map((s) => s.id)));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return { endpoint: `http://${host}/xapi`, host };
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe.each(STORES)('%s', (kind) => {
  let store: OpenedStore;
  const tenantsCreated: string[] = [];

  beforeAll(async () => {
    store = await openStore(kind);
    await Promise.all([new MongoTenantDirectory(store.db).init(), new MongoCriteriaDefinitions(store.db).init(), new MongoHostedBadgeObjects(store.db).init(), new MongoRelayStore(store.db).init()]);
  });

  afterAll(async () => {
    if (!store) return;
    await store.db.collection('tenants').deleteMany({ _id: { $in: tenantsCreated as never[] } });
    await store.db.collection('api_keys').deleteMany({ tenant: { $in: tenantsCreated } });
    await store.close();
  });

  describe('the tenant directory', () => {
    const directory = () => new MongoTenantDirectory(store.db);

    async function newTenant(prefix = 'dir'): Promise<string> {
      const name = uniqueName(prefix);
      await directory().createTenant(name);
      tenantsCreated.push(name);
      return name;
    }

    it('creates a tenant once: the same name again is refused, also after a restart', async () => {
      const name = uniqueName('dir');
      const created = await directory().createTenant(name);
      tenantsCreated.push(name);
      expect(created).toEqual({ name, createdAt: expect.any(Date) });
      expect((await directory().listTenants()).find((t) => t.name === name)).toEqual(created);

      await expect(directory().createTenant(name)).rejects.toThrow(ConflictError);
      await expect(directory().createTenant(name)).rejects.toThrow(`tenant ${name} already exists`);

      await store.reopen();
      expect((await directory().listTenants()).find((t) => t.name === name)).toEqual(created);
      await expect(directory().createTenant(name)).rejects.toThrow(`tenant ${name} already exists`);
    });

    it('lists tenants by name', async () => {
      const names = [await newTenant('dir-b'), await newTenant('dir-a')];
      const listed = (await directory().listTenants()).map((t) => t.name);
      expect(listed.filter((n) => names.includes(n))).toEqual([...names].sort());
    });

    it.each(['', 'Upper', '-leading-dash', 'has space', 'pipe|name', 'dot.name', 'a'.repeat(64)])('refuses the tenant name %j, storing nothing', async (name) => {
      await expect(directory().createTenant(name)).rejects.toThrow(InvalidInputError);
      await expect(directory().createTenant(name)).rejects.toThrow(/must be 1-63 characters of a-z, 0-9 and '-'/);
      expect((await directory().listTenants()).map((t) => t.name)).not.toContain(name);
    });

    it('creates keys of a tenant, lists them without their secrets, and authenticates their tokens', async () => {
      const tenant = await newTenant();
      const sensor = await directory().createKey(tenant, 'sensor', 'the LMS');
      const admin = await directory().createKey(tenant, 'admin');
      expect(sensor.token).toMatch(/^bgs_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
      expect(sensor.key).toEqual({ id: parseToken(sensor.token)!.keyId, tenant, scope: 'sensor', label: 'the LMS', createdAt: expect.any(Date) });
      expect(admin.key).toEqual({ id: parseToken(admin.token)!.keyId, tenant, scope: 'admin', createdAt: expect.any(Date) });

      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect((await directory().listKeys(tenant)).sort(byId)).toEqual([sensor.key, admin.key].sort(byId));
      expect(await directory().listKeys(uniqueName('dir-none'))).toEqual([]);

      expect(await directory().authenticate(sensor.token)).toEqual({ tenant, scope: 'sensor', keyId: sensor.key.id });
      expect(await directory().authenticate(admin.token)).toEqual({ tenant, scope: 'admin', keyId: admin.key.id });

      await store.reopen();
      expect((await directory().listKeys(tenant)).sort(byId)).toEqual([sensor.key, admin.key].sort(byId));
      expect(await directory().authenticate(sensor.token)).toEqual({ tenant, scope: 'sensor', keyId: sensor.key.id });
    });

    it('refuses a key for a tenant that does not exist, or of an unknown scope', async () => {
      const missing = uniqueName('dir-missing');
      await expect(directory().createKey(missing, 'sensor')).rejects.toThrow(NotFoundError);
      await expect(directory().createKey(missing, 'sensor')).rejects.toThrow(`tenant ${missing} does not exist`);
      const tenant = await newTenant();
      await expect(directory().createKey(tenant, 'owner' as never)).rejects.toThrow(InvalidInputError);
      expect(await directory().listKeys(tenant)).toEqual([]);
    });

    it('revokes a key for good: its token no longer authenticates, the others still do, also after a restart', async () => {
      const tenant = await newTenant();
      const kept = await directory().createKey(tenant, 'reader');
      const revoked = await directory().createKey(tenant, 'sensor');

      const first = await directory().revokeKey(revoked.key.id);
      expect(first).toEqual({ ...revoked.key, revokedAt: expect.any(Date) });
      expect(await directory().authenticate(revoked.token)).toBeUndefined();
      expect(await directory().authenticate(kept.token)).toEqual({ tenant, scope: 'reader', keyId: kept.key.id });

      // Revoking again keeps the first revocation's time.
      await sleep(5);
      expect((await directory().revokeKey(revoked.key.id)).revokedAt).toEqual(first.revokedAt);
      await expect(directory().revokeKey('0123456789abcdef')).rejects.toThrow(NotFoundError);

      await store.reopen();
      expect(await directory().authenticate(revoked.token)).toBeUndefined();
      expect(await directory().authenticate(kept.token)).toEqual({ tenant, scope: 'reader', keyId: kept.key.id });
      expect((await directory().listKeys(tenant)).find((k) => k.id === revoked.key.id)).toEqual(first);
    });

    it('authenticates nothing from a malformed, unknown or altered token', async () => {
      const tenant = await newTenant();
      const { token, key } = await directory().createKey(tenant, 'sensor');
      const { secret } = parseToken(token)!;
      const otherSecret = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
      for (const wrong of ['', 'nonsense', `Bearer ${token}`, `${token}x`, token.slice(0, -1), `bgs_${key.id}_${otherSecret}`, `bgs_0123456789abcdef_${secret}`]) {
        expect(await directory().authenticate(wrong), wrong).toBeUndefined();
      }
      expect(await directory().authenticate(token)).toEqual({ tenant, scope: 'sensor', keyId: key.id });
    });

    it('stores a hash of the secret, never the secret or the token', async () => {
      const tenant = await newTenant();
      const { token, key } = await directory().createKey(tenant, 'admin', 'ops');
      const { secret } = parseToken(token)!;
      const stored = await store.db.collection('api_keys').findOne({ _id: key.id as never });
      expect(stored).toMatchObject({ tenant, scope: 'admin', secretHash: hashSecret(secret) });
      expect(JSON.stringify(stored)).not.toContain(secret);
    });
  });

  describe('criteria definitions', () => {
    const definitions = () => new MongoCriteriaDefinitions(store.db);
    const tenants: string[] = [];
    const newTenant = () => {
      const name = uniqueName('criteria-repo');
      tenants.push(name);
      return name;
    };
    const statuses = async (tenant: string) => (await definitions().list(tenant)).map((d) => [d.badgeClass, d.version, d.status]);

    afterAll(async () => {
      // Nothing left in force: the criteria consumer evaluates every active version.
      for (const tenant of tenants) for (const d of await definitions().active(tenant)) await definitions().retire(tenant, d.badgeClass, d.version);
      await store.db.collection('criteria_definitions').deleteMany({ tenant: { $in: tenants } });
      await store.db.collection('criteria_activations').deleteMany({ tenant: { $in: tenants } });
    });

    it('stores versions as drafts; the same document again changes nothing; another document under a stored version is refused, also after a restart', async () => {
      const tenant = newTenant();
      const first = await definitions().put(tenant, criteriaDoc(1));
      expect(first).toEqual({
        created: true,
        definition: { tenant, badgeClass: BADGE, version: 1, status: 'draft', criteria: criteriaDoc(1), createdAt: expect.any(Date) },
      });
      // Keys in another order, with the editor's $schema hint: the same document.
      const { name, ...rest } = criteriaDoc(1);
      expect(await definitions().put(tenant, { $schema: 'https://w3id.org/badgestream/schemas/criteria/criteria.schema.json', ...rest, name })).toEqual({
        created: false,
        definition: first.definition,
      });
      expect((await definitions().put(tenant, criteriaDoc(2, { window: 'P60D' }))).created).toBe(true);

      await expect(definitions().put(tenant, criteriaDoc(1, { window: 'P30D' }))).rejects.toThrow(ConflictError);
      await expect(definitions().put(tenant, criteriaDoc(1, { window: 'P30D' }))).rejects.toThrow('bump "version" to 3');

      await store.reopen();
      await expect(definitions().put(tenant, criteriaDoc(2, { window: 'P30D' }))).rejects.toThrow('version 2 of');
      expect(await definitions().put(tenant, criteriaDoc(1))).toEqual({ created: false, definition: first.definition });
      expect(await definitions().get(tenant, BADGE, 1)).toEqual(first.definition);
      expect(await definitions().get(tenant, BADGE, 2)).toMatchObject({ status: 'draft', criteria: { window: 'P60D' } });
    });

    it('refuses a document that does not validate, naming the place, and stores nothing', async () => {
      const tenant = newTenant();
      const refused = await definitions()
        .put(tenant, criteriaDoc(1, { version: 'one' }))
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidCriteriaError);
      expect((refused as InvalidCriteriaError).problems.map((p) => p.pointer)).toContain('/version');
      expect(await definitions().list(tenant)).toEqual([]);
    });

    it('gets one version or the latest, and lists by badge class then version', async () => {
      const tenant = newTenant();
      const other = 'https://issuer.example/badges/other';
      for (const version of [2, 1, 3]) await definitions().put(tenant, criteriaDoc(version, { window: `P${version}0D` }));
      await definitions().put(tenant, criteriaDoc(1, { badgeClass: other }));

      expect(await definitions().get(tenant, BADGE, 2)).toMatchObject({ version: 2, criteria: { window: 'P20D' } });
      expect(await definitions().get(tenant, BADGE)).toMatchObject({ version: 3, criteria: { window: 'P30D' } });
      expect(await definitions().get(tenant, BADGE, 4)).toBeUndefined();
      expect(await definitions().get(tenant, 'https://issuer.example/badges/none')).toBeUndefined();
      expect(await definitions().get(newTenant(), BADGE, 1)).toBeUndefined();

      expect(await statuses(tenant)).toEqual([
        [other, 1, 'draft'],
        [BADGE, 1, 'draft'],
        [BADGE, 2, 'draft'],
        [BADGE, 3, 'draft'],
      ]);
      expect((await definitions().list(tenant, { badgeClass: other })).map((d) => [d.badgeClass, d.version])).toEqual([[other, 1]]);
    });

    it('lists badge classes in the order of their IRIs, characters beyond U+FFFF included', async () => {
      const tenant = newTenant();
      const classes = ['https://issuer.example/badges/a', 'https://issuer.example/badges/\uFF01', 'https://issuer.example/badges/\u{1F600}'];
      for (const badgeClass of [...classes].reverse()) await definitions().put(tenant, criteriaDoc(1, { badgeClass }));
      expect((await definitions().list(tenant)).map((d) => d.badgeClass)).toEqual(classes);
    });

    it('activates one version at a time: activating another retires the one in force, which stays so after a restart', async () => {
      const tenant = newTenant();
      for (const version of [1, 2, 3]) await definitions().put(tenant, criteriaDoc(version));

      const first = await definitions().activate(tenant, BADGE, 1);
      expect(first.definition).toMatchObject({ version: 1, status: 'active', activatedAt: expect.any(Date) });
      expect(first.retired).toEqual([]);

      const second = await definitions().activate(tenant, BADGE, 2);
      expect(second.definition).toMatchObject({ version: 2, status: 'active' });
      expect(second.retired.map((d) => [d.version, d.status])).toEqual([[1, 'retired']]);
      expect(await statuses(tenant)).toEqual([
        [BADGE, 1, 'retired'],
        [BADGE, 2, 'active'],
        [BADGE, 3, 'draft'],
      ]);
      expect((await definitions().active(tenant)).map((d) => [d.version, d.status])).toEqual([[2, 'active']]);
      expect((await definitions().activeForAllTenants()).filter((d) => d.tenant === tenant).map((d) => d.version)).toEqual([2]);

      // Activating the one in force again changes nothing.
      expect((await definitions().activate(tenant, BADGE, 2)).retired).toEqual([]);
      await expect(definitions().activate(tenant, BADGE, 9)).rejects.toThrow(NotFoundError);
      expect((await definitions().active(tenant)).map((d) => d.version)).toEqual([2]);

      await store.reopen();
      expect(await statuses(tenant)).toEqual([
        [BADGE, 1, 'retired'],
        [BADGE, 2, 'active'],
        [BADGE, 3, 'draft'],
      ]);
      expect((await definitions().active(tenant)).map((d) => d.version)).toEqual([2]);
    });

    it('retires the version in force (none is then in force) and abandons drafts; retiring again changes nothing', async () => {
      const tenant = newTenant();
      for (const version of [1, 2]) await definitions().put(tenant, criteriaDoc(version));
      await definitions().activate(tenant, BADGE, 1);

      const retired = await definitions().retire(tenant, BADGE, 1);
      expect(retired).toMatchObject({ version: 1, status: 'retired', retiredAt: expect.any(Date) });
      expect(await definitions().active(tenant)).toEqual([]);
      expect((await definitions().activeForAllTenants()).filter((d) => d.tenant === tenant)).toEqual([]);
      expect(await definitions().retire(tenant, BADGE, 1)).toEqual(retired);

      expect(await definitions().retire(tenant, BADGE, 2)).toMatchObject({ version: 2, status: 'retired' });
      await expect(definitions().retire(tenant, BADGE, 3)).rejects.toThrow(NotFoundError);

      await store.reopen();
      expect(await statuses(tenant)).toEqual([
        [BADGE, 1, 'retired'],
        [BADGE, 2, 'retired'],
      ]);
      expect(await definitions().active(tenant)).toEqual([]);

      // A retired version can be put in force again.
      expect((await definitions().activate(tenant, BADGE, 1)).definition.status).toBe('active');
      expect((await definitions().active(tenant)).map((d) => d.version)).toEqual([1]);
    });

    it('gives the criteria in force of every tenant, by tenant then badge class, and the last activation of each version', async () => {
      const [a, b] = [newTenant(), newTenant()].sort();
      const other = 'https://issuer.example/badges/another';
      for (const version of [1, 2]) await definitions().put(a!, criteriaDoc(version));
      await definitions().put(a!, criteriaDoc(1, { badgeClass: other }));
      await definitions().put(b!, criteriaDoc(1));
      await definitions().activate(a!, BADGE, 1);
      await definitions().activate(a!, BADGE, 2);
      await definitions().activate(a!, BADGE, 1);
      await definitions().activate(a!, other, 1);
      await definitions().activate(b!, BADGE, 1);

      const inForce = async () => (await definitions().activeForAllTenants()).filter((d) => d.tenant === a || d.tenant === b).map((d) => [d.tenant, d.badgeClass, d.version, d.status]);
      const expected = [
        [a, other, 1, 'active'],
        [a, BADGE, 1, 'active'],
        [b, BADGE, 1, 'active'],
      ];
      expect(await inForce()).toEqual(expected);

      const byVersion = (x: { badgeClass: string; version: number }, y: { badgeClass: string; version: number }) => x.badgeClass.localeCompare(y.badgeClass) || x.version - y.version;
      const activations = (await definitions().lastActivations(a!)).sort(byVersion);
      expect(activations.map((x) => [x.badgeClass, x.version, x.seq])).toEqual([
        [other, 1, 1],
        [BADGE, 1, 3],
        [BADGE, 2, 2],
      ]);

      await store.reopen();
      expect(await inForce()).toEqual(expected);
      expect((await definitions().lastActivations(a!)).sort(byVersion)).toEqual(activations);
    });
  });

  describe('issuer settings', () => {
    const settings = (db = store.db) => new MongoIssuerSettings(db);
    const tenants: string[] = [];
    const newTenant = () => {
      const name = uniqueName('issuer-settings');
      tenants.push(name);
      return name;
    };

    afterAll(async () => {
      await store.db.collection('issuer_settings').deleteMany({ _id: { $in: tenants as never[] } });
    });

    it('are mode none, without a secret, for a tenant that never set them', async () => {
      const tenant = newTenant();
      expect(await settings().get(tenant)).toEqual({ tenant, mode: 'none', hasSecret: false });
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'none' });
    });

    it('generate a signing secret the first time a webhook is set, show it once, and keep it across changes and a restart', async () => {
      const tenant = newTenant();
      const set = await settings().put(tenant, { mode: 'webhook', webhookUrl: 'https://Issuer.EXAMPLE/hooks/awards' });
      expect(set.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      const shown = { tenant, mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/awards', hasSecret: true, secretCreatedAt: expect.any(Date), updatedAt: expect.any(Date) };
      expect(set.settings).toEqual(shown);
      expect(await settings().get(tenant)).toEqual(set.settings);
      expect(JSON.stringify(await settings().get(tenant))).not.toContain(set.secret);
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/awards', secret: set.secret });

      // Another URL: the same secret, not shown again.
      const moved = await settings().put(tenant, { mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/v2' });
      expect(moved.secret).toBeUndefined();
      expect(moved.settings.secretCreatedAt).toEqual(set.settings.secretCreatedAt);
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/v2', secret: set.secret });

      // Another mode keeps the URL and the secret, so switching back needs no new secret.
      expect((await settings().put(tenant, { mode: 'badgestream' })).settings).toMatchObject({ mode: 'badgestream', webhookUrl: 'https://issuer.example/hooks/v2', hasSecret: true });
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'badgestream', webhookUrl: 'https://issuer.example/hooks/v2', secret: set.secret });

      await store.reopen();
      expect(await settings().get(tenant)).toMatchObject({ mode: 'badgestream', webhookUrl: 'https://issuer.example/hooks/v2', hasSecret: true, secretCreatedAt: set.settings.secretCreatedAt });
      const back = await settings().put(tenant, { mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/v2' });
      expect(back.secret).toBeUndefined();
      expect((await settings().forDelivery(tenant)).secret).toBe(set.secret);
    });

    it('rotate the secret on request, in mode webhook only', async () => {
      const tenant = newTenant();
      const webhookUrl = 'https://issuer.example/hooks/rotate';
      const { secret: first } = await settings().put(tenant, { mode: 'webhook', webhookUrl });
      const { secret: second, settings: rotated } = await settings().put(tenant, { mode: 'webhook', webhookUrl, rotateSecret: true });
      expect(second).toMatch(/^whsec_/);
      expect(second).not.toBe(first);
      expect(rotated.hasSecret).toBe(true);
      expect((await settings().forDelivery(tenant)).secret).toBe(second);

      await expect(settings().put(tenant, { mode: 'none', rotateSecret: true })).rejects.toThrow('rotateSecret applies to mode webhook only');
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'webhook', webhookUrl, secret: second });
    });

    it.each([
      ['must be a JSON object', null],
      ['the issuing settings must be a JSON object: {"mode"', ['webhook']],
      ['mode must be one of webhook, badgestream, none; got "email"', { mode: 'email' }],
      ['got null', {}],
      ['unknown field "url"', { mode: 'none', url: 'https://issuer.example/' }],
      ['mode webhook needs webhookUrl', { mode: 'webhook' }],
      ['webhookUrl must be an absolute http(s) URL', { mode: 'webhook', webhookUrl: 'not a url' }],
      ['webhookUrl must be an http or https URL; got scheme ftp', { mode: 'webhook', webhookUrl: 'ftp://issuer.example/hook' }],
      ['webhookUrl must not carry credentials', { mode: 'webhook', webhookUrl: 'https://user:pass@issuer.example/hook' }],
      ['webhookUrl must not have a #fragment', { mode: 'webhook', webhookUrl: 'https://issuer.example/hook#awards' }],
      ['webhookUrl must be at most 2048 characters', { mode: 'webhook', webhookUrl: `https://issuer.example/${'a'.repeat(2048)}` }],
      ['webhookUrl is used in mode webhook only', { mode: 'badgestream', webhookUrl: 'https://issuer.example/hook' }],
      ['rotateSecret must be true or false', { mode: 'webhook', webhookUrl: 'https://issuer.example/hook', rotateSecret: 'yes' }],
    ])('refuse what is invalid (%s), keeping what was set', async (reason, input) => {
      const tenant = newTenant();
      await settings().put(tenant, { mode: 'badgestream' });
      const before = await settings().get(tenant);
      const refused = await settings()
        .put(tenant, input)
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidInputError);
      expect((refused as Error).message).toContain(reason);
      expect(await settings().get(tenant)).toEqual(before);
    });

    it('refuse a change made at the same time as another, so that no secret is handed out but the stored one', async () => {
      const tenant = newTenant();
      const webhookUrl = 'https://issuer.example/hooks/race';
      await settings().put(tenant, { mode: 'webhook', webhookUrl });
      await sleep(5);
      let winner: string | undefined;
      const racing = settings(
        withChangeBetween(store.db, 'issuer_settings', async () => {
          winner = (await settings().put(tenant, { mode: 'webhook', webhookUrl, rotateSecret: true })).secret;
        }),
      );
      await expect(racing.put(tenant, { mode: 'webhook', webhookUrl, rotateSecret: true })).rejects.toThrow(ConflictError);
      expect(winner).toMatch(/^whsec_/);
      expect((await settings().forDelivery(tenant)).secret).toBe(winner);
    });

    it('refuse a first setting made at the same time as another', async () => {
      const tenant = newTenant();
      let winner: string | undefined;
      const racing = settings(
        withChangeBetween(store.db, 'issuer_settings', async () => {
          winner = (await settings().put(tenant, { mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/first' })).secret;
        }),
      );
      await expect(racing.put(tenant, { mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/other' })).rejects.toThrow('were set at the same time');
      expect(await settings().forDelivery(tenant)).toEqual({ mode: 'webhook', webhookUrl: 'https://issuer.example/hooks/first', secret: winner });
    });
  });

  describe('hosted badge objects', () => {
    const objects = () => new MongoHostedBadgeObjects(store.db);
    const run = uniqueName('hosted');
    const iri = (name: string) => `https://issuer.example/${run}/${name}`;
    const badgeClass = (name: string, extra: Record<string, unknown> = {}) => ({ id: iri(name), type: 'BadgeClass', name, ...extra });
    const tenantA = uniqueName('hosted-a');
    const tenantB = uniqueName('hosted-b');
    const tenantC = uniqueName('hosted-c');

    afterAll(async () => {
      await store.db.collection('hosted_badge_objects').deleteMany({ tenant: { $in: [tenantA, tenantB, tenantC] } });
    });

    it('stores a tenant badge object as described, keys with dots included, and replaces it when described again', async () => {
      const described = badgeClass('python', { 'ims:TBAcaliperApi': { 'endpoint.url': 'https://badges.example/caliper' }, alignment: [{ 'target.name': 'x' }] });
      const stored = await objects().put(tenantA, described, 'event');
      expect(stored).toEqual({ iri: iri('python'), tenant: tenantA, type: 'BadgeClass', object: described, source: 'event', updatedAt: expect.any(Date) });
      expect(await objects().get(iri('python'))).toEqual(stored);

      const changed = badgeClass('python', { description: 'changed' });
      expect(await objects().put(tenantA, changed, 'admin')).toMatchObject({ object: changed, source: 'admin' });
      expect(await objects().get(iri('python'))).toMatchObject({ tenant: tenantA, object: changed, source: 'admin' });
      expect(await objects().get(iri('unknown'))).toBeUndefined();
    });

    it('refuses an object without an id or a type', async () => {
      await expect(objects().put(tenantA, { type: 'BadgeClass' }, 'admin')).rejects.toThrow(InvalidInputError);
      await expect(objects().put(tenantA, { id: iri('typeless') }, 'admin')).rejects.toThrow('needs an id (its hosted IRI) and a type');
      expect(await objects().get(iri('typeless'))).toBeUndefined();
    });

    it('refuses the IRI of another tenant badge object as a conflict, leaving it as it was, also after a restart', async () => {
      const owned = await objects().put(tenantA, badgeClass('owned'), 'entity');
      await expect(objects().put(tenantB, badgeClass('owned', { name: 'taken over' }), 'event')).rejects.toThrow(ConflictError);
      await expect(objects().put(tenantB, badgeClass('owned'), 'event')).rejects.toThrow(`${iri('owned')} is a badge object of another tenant`);
      expect(await objects().get(iri('owned'))).toEqual(owned);

      // What a sensor describes: IRIs of another tenant are skipped, the rest stored.
      expect(await objects().record(tenantB, [badgeClass('owned', { name: 'again' }), badgeClass('b-own')], 'event')).toEqual([iri('owned')]);
      expect(await objects().get(iri('b-own'))).toMatchObject({ tenant: tenantB, source: 'event' });

      await store.reopen();
      expect(await objects().get(iri('owned'))).toEqual(owned);
      await expect(objects().put(tenantB, badgeClass('owned'), 'admin')).rejects.toThrow(ConflictError);
    });

    it('lists a tenant objects in the order of their IRIs, characters beyond U+FFFF included', async () => {
      const tenant = tenantC;
      // By code point, as MongoDB orders strings: U+FF01 before U+1F600, whose UTF-16 form starts with a surrogate (U+D83D).
      const names = ['order/a', 'order/z', 'order/\uFF01', 'order/\u{1F600}'];
      for (const name of [...names].reverse()) await objects().put(tenant, badgeClass(name), 'admin');
      expect((await objects().list(tenant)).map((o) => o.iri)).toEqual(names.map(iri));
      await objects().remove(tenant, names.map(iri));
    });

    it('tells which IRIs a tenant hosts and who hosts which, lists a tenant objects, and removes only the tenant own', async () => {
      await objects().record(tenantA, [badgeClass('a-1'), badgeClass('a-2'), { id: iri('a-0'), type: 'Achievement' }], 'admin');
      await objects().put(tenantB, badgeClass('b-1'), 'admin');
      const asked = [iri('a-1'), iri('a-0'), iri('b-1'), iri('nobody'), iri('a-1')];

      expect(await objects().hostedBy(tenantA, asked)).toEqual(new Set([iri('a-0'), iri('a-1')]));
      expect(await objects().hostedBy(tenantB, asked)).toEqual(new Set([iri('b-1')]));
      expect(await objects().hostedBy(tenantA, [])).toEqual(new Set());
      expect(await objects().hostsOf(asked)).toEqual(
        new Map([
          [iri('a-1'), tenantA],
          [iri('a-0'), tenantA],
          [iri('b-1'), tenantB],
        ]),
      );
      expect(await objects().hostsOf([])).toEqual(new Map());

      const listed = (await objects().list(tenantA)).map((o) => o.iri);
      expect(listed).toEqual([...listed].sort());
      expect(listed).toEqual(expect.arrayContaining([iri('a-0'), iri('a-1'), iri('a-2')]));
      expect(listed).not.toContain(iri('b-1'));
      expect(await objects().list(tenantA, 2)).toHaveLength(2);

      await objects().remove(tenantA, [iri('a-1'), iri('b-1')]);
      await store.reopen();
      expect(await objects().hostsOf([iri('a-1'), iri('a-2'), iri('b-1')])).toEqual(
        new Map([
          [iri('a-2'), tenantA],
          [iri('b-1'), tenantB],
        ]),
      );
    });
  });

  describe('reporting settings', () => {
    const settings = () => new MongoReportingSettings(store.db);
    const tenants: string[] = [];
    const newTenant = () => {
      const name = uniqueName('reporting-settings');
      tenants.push(name);
      return name;
    };

    afterAll(async () => {
      await store.db.collection('reporting_settings').deleteMany({ _id: { $in: tenants as never[] } });
    });

    it('ask for every consumer action, with a token, for a tenant that never chose', async () => {
      const tenant = newTenant();
      expect(await settings().get(tenant)).toEqual({ tenant, actions: [...CONSUMER_ACTIONS], anonymous: false });
    });

    it('keep what was set, each action once, across a restart; setting again replaces it', async () => {
      const tenant = newTenant();
      const set = await settings().put(tenant, { actions: ['Verified', 'Accessed', 'Verified'], anonymous: true });
      expect(set).toEqual({ tenant, actions: ['Verified', 'Accessed'], anonymous: true, updatedAt: expect.any(Date) });
      expect(await settings().get(tenant)).toEqual(set);

      await store.reopen();
      expect(await settings().get(tenant)).toEqual(set);
      const again = await settings().put(tenant, { actions: ['Shared'] });
      expect(await settings().get(tenant)).toEqual({ tenant, actions: ['Shared'], anonymous: false, updatedAt: again.updatedAt });
    });

    it.each([
      ['not an object', 'must be a JSON object'],
      [{ actions: ['Verified'], tokens: true }, 'unknown field "tokens"'],
      [{ anonymous: true }, 'actions must be a non-empty list'],
      [{ actions: [] }, 'actions must be a non-empty list'],
      [{ actions: ['Verified', 'Issued'] }, 'actions/1: "Issued" is not an action consumers report'],
      [{ actions: ['Verified'], anonymous: 'yes' }, 'anonymous must be true or false'],
    ])('refuse %j, saying why, and keep what was set', async (input, reason) => {
      const tenant = newTenant();
      const before = await settings().put(tenant, { actions: ['Accepted'] });
      await expect(settings().put(tenant, input)).rejects.toThrow(InvalidInputError);
      await expect(settings().put(tenant, input)).rejects.toThrow(reason);
      expect(await settings().get(tenant)).toEqual(before);
    });
  });

  describe('the relay store', () => {
    const relay = () => new MongoRelayStore(store.db);
    const tenant = uniqueName('relay-repo');
    // A partition no relay instance of the stack owns.
    const partition = 9_000 + Math.floor(Math.random() * 1_000);
    const endpoint = (name: string) => `https://${name}.issuer.example/caliper`;
    const seenIds: string[] = [];

    afterAll(async () => {
      await store.db.collection('relay_pending').deleteMany({ tenant });
      await store.db.collection('relay_seen').deleteMany({ _id: { $in: seenIds as never[] } });
      await store.db.collection('relay_attempts').deleteMany({ tenant });
      await store.db.collection('relay_outcomes').deleteMany({ tenant });
      await store.db.collection('relay_endpoints').deleteMany({ tenant });
    });

    function pending(eventId: string, to: string): PendingRelay {
      return { _id: `${tenant}|${eventId}`, tenant, partition, eventId, endpoint: to, event: JSON.stringify({ id: eventId, 'a.b': 1 }), createdAt: new Date() };
    }
    const attempt = (deliveryId: string, to: string, n: number): RelayAttempt => ({
      _id: `${deliveryId}#${n}`,
      deliveryId,
      tenant,
      endpoint: to,
      at: new Date(),
      status: 503,
      error: 'the issuer answered 503',
    });
    const outcome = (record: PendingRelay, kind: RelayOutcome['outcome'], extra: Partial<RelayOutcome> = {}): RelayOutcome => ({
      _id: record._id,
      tenant,
      endpoint: record.endpoint,
      eventId: record.eventId,
      outcome: kind,
      attempts: 1,
      at: new Date(),
      ...extra,
    });
    const mine = async () => (await relay().pendingOfPartitions([partition])).filter((p) => p.tenant === tenant).sort((a, b) => a._id.localeCompare(b._id));

    it('registers endpoints with their credentials, shows them without, replaces and removes them', async () => {
      const [first, second] = [endpoint('first'), endpoint('second')];
      expect(await relay().putEndpoint(tenant, second, { token: 'issuer-token' })).toEqual({ tenant, endpoint: second, hasToken: true, hasSecret: false, createdAt: expect.any(Date) });
      await relay().putEndpoint(tenant, first, { token: 'first-token', secret: 'first-secret' });
      expect((await relay().listEndpoints(tenant)).map((e) => [e.endpoint, e.hasToken, e.hasSecret])).toEqual([
        [first, true, true],
        [second, true, false],
      ]);
      expect(JSON.stringify(await relay().listEndpoints(tenant))).not.toContain('token"');
      expect((await relay().listEndpoints()).filter((e) => e.tenant === tenant)).toHaveLength(2);

      // Registering again replaces the credentials.
      await relay().putEndpoint(tenant, second, { secret: 'signing-secret' });
      const credentials = await relay().credentials();
      expect(credentials.get(`${tenant} ${second}`)).toEqual({ secret: 'signing-secret' });
      expect(credentials.get(`${tenant} ${first}`)).toEqual({ token: 'first-token', secret: 'first-secret' });

      await store.reopen();
      expect((await relay().listEndpoints(tenant)).map((e) => [e.endpoint, e.hasToken, e.hasSecret])).toEqual([
        [first, true, true],
        [second, false, true],
      ]);
      await relay().removeEndpoint(tenant, first);
      expect((await relay().listEndpoints(tenant)).map((e) => e.endpoint)).toEqual([second]);
      expect((await relay().credentials()).has(`${tenant} ${first}`)).toBe(false);
      await expect(relay().removeEndpoint(tenant, first)).rejects.toThrow(NotFoundError);
      await expect(relay().removeEndpoint(uniqueName('relay-none'), second)).rejects.toThrow(`relays to no endpoint ${second}`);
    });

    it.each([
      ['not a url', { token: 't' }, 'is not a URL'],
      ['ftp://issuer.example/caliper', { token: 't' }, 'endpoint must be an http(s) URL'],
      ['https://issuer.example/caliper', {}, 'give a bearer token'],
    ])('refuses the endpoint %s with %j', async (url, credentials, reason) => {
      await expect(relay().putEndpoint(tenant, url, credentials)).rejects.toThrow(InvalidInputError);
      await expect(relay().putEndpoint(tenant, url, credentials)).rejects.toThrow(reason);
      expect((await relay().listEndpoints(tenant)).map((e) => e.endpoint)).not.toContain(url);
    });

    it('takes each write once: a repeated write is already done, reported as such, and changes nothing', async () => {
      const to = endpoint('idempotent');
      const [p1, p2, p3] = [pending('e1', to), pending('e2', to), pending('e3', to)];
      expect(await relay().addPending([p1, p2])).toEqual(new Set());
      expect(await relay().addPending([{ ...p1, endpoint: endpoint('elsewhere') }, p3])).toEqual(new Set([p1._id]));
      expect(await relay().addPending([p2])).toEqual(new Set([p2._id]));
      expect(await relay().addPending([p1, p2, p3])).toEqual(new Set([p1._id, p2._id, p3._id]));
      expect(await mine()).toEqual([p1, p2, p3]);
      expect(await relay().pendingOfPartitions([])).toEqual([]);

      const ids = [p1._id, p2._id].map((id) => `${id}|${kind}`);
      seenIds.push(...ids);
      expect(await relay().markSeen(ids)).toEqual(new Set());
      expect(await relay().markSeen([ids[0]!])).toEqual(new Set([ids[0]]));
      expect(await relay().markSeen(ids)).toEqual(new Set(ids));

      await relay().recordAttempts([attempt(p1._id, to, 1), attempt(p1._id, to, 2)]);
      await relay().recordAttempts([attempt(p1._id, to, 2)]);
      await relay().recordAttempts([attempt(p1._id, to, 1), attempt(p1._id, to, 2), attempt(p2._id, to, 1)]);
      expect(await relay().attemptCounts([p1._id, p2._id, p3._id])).toEqual(
        new Map([
          [p1._id, 2],
          [p2._id, 1],
        ]),
      );

      await relay().recordOutcomes([outcome(p1, 'delivered')]);
      await relay().recordOutcomes([outcome(p1, 'dead', { reason: 'a later, different write' }), outcome(p2, 'delivered')]);
      expect(await relay().withOutcome([p1._id, p2._id, p3._id])).toEqual(new Set([p1._id, p2._id]));
      expect(await store.db.collection('relay_outcomes').findOne({ _id: p1._id as never })).toMatchObject({ outcome: 'delivered' });

      await relay().removePending([p1._id, p2._id]);
      expect(await mine()).toEqual([p3]);

      // After a restart, what was written is still already done.
      await store.reopen();
      expect(await relay().markSeen(ids)).toEqual(new Set(ids));
      expect(await relay().addPending([p3])).toEqual(new Set([p3._id]));
      expect(await relay().withOutcome([p1._id, p2._id, p3._id])).toEqual(new Set([p1._id, p2._id]));
      expect(await relay().attemptCounts([p1._id])).toEqual(new Map([[p1._id, 2]]));
    });

    it('sums up per endpoint what waits, what was delivered, failed attempts, dead letters and refusals; puts dead letters back', async () => {
      const [up, down] = [endpoint(`up-${kind}`), endpoint(`down-${kind}`)];
      const waiting = pending(`s-waiting-${kind}`, up);
      const delivered = pending(`s-delivered-${kind}`, up);
      const dead = pending(`s-dead-${kind}`, down);
      const refused = pending(`s-refused-${kind}`, up);
      await relay().addPending([waiting, delivered, dead]);
      await relay().recordAttempts([attempt(waiting._id, up, 1), attempt(waiting._id, up, 2), attempt(dead._id, down, 1)]);
      // The pending records of the delivered and the dead event are not yet swept: finished all the same.
      await relay().recordOutcomes([
        outcome(delivered, 'delivered'),
        outcome(dead, 'dead', { reason: 'the issuer answered 410', attempts: 2, event: dead.event, partition }),
        outcome(refused, 'refused', { reason: 'the event names no endpoint of the tenant' }),
      ]);

      const statusOf = async () => (await relay().status(tenant)).filter((s) => s.endpoint === up || s.endpoint === down);
      const expected = [
        { tenant, endpoint: down, backlog: 0, delivered: 0, failedAttempts: 1, dead: 1, refused: 0 },
        { tenant, endpoint: up, backlog: 1, delivered: 1, failedAttempts: 2, dead: 0, refused: 1 },
      ];
      expect(await statusOf()).toEqual(expected);
      expect((await relay().status()).filter((s) => s.tenant === tenant && (s.endpoint === up || s.endpoint === down))).toEqual(expected);
      expect((await relay().deadLetters({ tenant, limit: 10 })).filter((d) => d.endpoint === down)).toEqual([
        outcome(dead, 'dead', { reason: 'the issuer answered 410', attempts: 2, event: dead.event, partition, at: expect.any(Date) }),
      ]);

      await store.reopen();
      expect(await statusOf()).toEqual(expected);

      // The relay sweeps the finished records; then the endpoint is fixed and the dead letter put back.
      await relay().removePending([delivered._id, dead._id]);
      expect(await relay().requeueDead(tenant, down)).toBe(1);
      expect(await relay().requeueDead(tenant, down)).toBe(0);
      const requeued = (await mine()).filter((p) => p.endpoint === down);
      expect(requeued).toEqual([{ ...dead, _id: expect.stringMatching(new RegExp(`^${dead._id.replace(/[|.]/g, '\\$&')}~requeued-\\d+$`)), createdAt: expect.any(Date), requeued: true }]);
      expect(await relay().attemptCounts([dead._id])).toEqual(new Map());
      expect(await statusOf()).toEqual([
        { tenant, endpoint: down, backlog: 1, delivered: 0, failedAttempts: 0, dead: 0, refused: 0 },
        { tenant, endpoint: up, backlog: 1, delivered: 1, failedAttempts: 2, dead: 0, refused: 1 },
      ]);
    });
  });

  describe('the reporting store', () => {
    const group = uniqueName(`reporting-repo-${kind}`);
    const reporting = () => new MongoReportingStore(store.db, group);
    const fact = (eventId: string): Fact => ({
      tenant: 't',
      eventId,
      action: 'Issued',
      time: Date.parse('2026-03-01T10:00:00Z'),
      badgeClass: 'https://b/1',
      issuer: '',
      recipient: 'https://u/1',
      actor: 'https://app',
      edApp: '',
      badge: true,
      receivedAt: 1,
    });

    beforeAll(async () => {
      await reporting().init();
    });

    afterAll(async () => {
      for (const name of ['reporting_slices', 'reporting_slice_data', 'reporting_seen', 'reporting_checkpoints']) await store.db.collection(name).deleteMany({ group });
    });

    it('writes slices and moves the checkpoint for the owner of the partition only; a new owner drops unfinished slices, also after a restart', async () => {
      const a = await reporting().takeOver(0, 3_600_000);
      expect(a).toEqual({ owner: expect.any(String), checkpoint: -1, seen: new Map() });
      const written = await reporting().writeSlice(
        { _id: `${group}-a-0`, partition: 0, fromOffset: 0, toOffset: 9, events: 2, owner: a.owner },
        encodeFacts([fact('urn:uuid:1'), fact('urn:uuid:2')]),
        ['urn:uuid:1', 'urn:uuid:2'],
        1_000,
      );
      expect(written).toEqual({ _id: `${group}-a-0`, group, partition: 0, fromOffset: 0, toOffset: 9, events: 2, owner: a.owner, tick: expect.any(Number), at: expect.any(Date) });
      expect(await reporting().allEntries()).toEqual([written]);
      expect(await reporting().recentEntries(2)).toEqual([written]);
      expect(await reporting().sliceData(written._id)).toBe(encodeFacts([fact('urn:uuid:1'), fact('urn:uuid:2')]));
      expect(await reporting().checkpointsByPartition()).toEqual(new Map([[0, { offset: 9, owners: [{ owner: a.owner, from: 0 }] }]]));

      // B takes the partition over; A, not knowing, writes on and is refused: its slice lies beyond the checkpoint.
      const b = await reporting().takeOver(0, 3_600_000);
      expect(b.checkpoint).toBe(9);
      expect(new Set(b.seen.keys())).toEqual(new Set(['urn:uuid:1', 'urn:uuid:2']));
      const mine = await reporting().writeSlice(
        { _id: `${group}-b-10`, partition: 0, fromOffset: 10, toOffset: 19, events: 1, owner: b.owner },
        encodeFacts([fact('urn:uuid:3')]),
        ['urn:uuid:3'],
        2_000,
      );
      const lost = { _id: `${group}-a-20`, partition: 0, fromOffset: 20, toOffset: 29, events: 1, owner: a.owner };
      await expect(reporting().writeSlice(lost, encodeFacts([fact('urn:uuid:4')]), ['urn:uuid:4'], 3_000)).rejects.toThrow(LostPartitionError);
      await expect(reporting().moveCheckpoint(0, a.owner, 29)).rejects.toThrow(LostPartitionError);
      expect((await reporting().allEntries()).map((e) => e._id)).toContain(lost._id);
      expect((await reporting().checkpointsByPartition()).get(0)).toEqual({
        offset: 19,
        owners: [
          { owner: a.owner, from: 0 },
          { owner: b.owner, from: 10 },
        ],
      });

      await store.reopen();
      // The next owner removes what lies beyond the checkpoint (A's slice) and keeps the rest.
      const c = await reporting().takeOver(0, 3_600_000);
      expect(c.checkpoint).toBe(19);
      expect(new Set(c.seen.keys())).toEqual(new Set(['urn:uuid:1', 'urn:uuid:2', 'urn:uuid:3']));
      expect(await reporting().sliceData(lost._id)).toBeUndefined();
      expect((await reporting().allEntries()).map((e) => e._id).sort()).toEqual([written._id, mine._id].sort());
      const data: string[] = [];
      for await (const d of reporting().allSliceData()) data.push(d.id);
      expect(data.sort()).toEqual([written._id, mine._id].sort());
      expect((await reporting().checkpointsByPartition()).get(0)!.owners.map((o) => o.owner)).toEqual([a.owner, b.owner, c.owner]);
    });

    it('remembers event ids within the duplicate window of the latest, and forgets those purged', async () => {
      const owner = (await reporting().takeOver(1, 60_000)).owner;
      const slice = (n: number, receivedMax: number) =>
        reporting().writeSlice({ _id: `${group}-p1-${n}`, partition: 1, fromOffset: n, toOffset: n, events: 1, owner }, encodeFacts([fact(`urn:uuid:p1-${n}`)]), [`urn:uuid:p1-${n}`], receivedMax);
      await slice(0, 1_000);
      await slice(1, 100_000);
      await slice(2, 130_000);

      // Within 60 s of the latest (130 s): the slices received at 100 s and 130 s.
      const taken = await reporting().takeOver(1, 60_000);
      expect(taken.seen).toEqual(
        new Map([
          ['urn:uuid:p1-1', 100_000],
          ['urn:uuid:p1-2', 130_000],
        ]),
      );
      expect(await reporting().purgeSeen(1, 120_000)).toBe(2);
      expect(await reporting().purgeSeen(1, 120_000)).toBe(0);
      await store.reopen();
      expect((await reporting().takeOver(1, 3_600_000)).seen).toEqual(new Map([['urn:uuid:p1-2', 130_000]]));
    });
  });

  describe('the LRS connector', () => {
    const tenant = uniqueName('lrs-repo');
    const lrs = new LrsStandIn();
    let endpoint: string;
    let host: string;
    const facts = (id: string): Fact[] => [
      {
        tenant,
        eventId: `urn:uuid:${id}-issued`,
        action: 'Issued',
        time: Date.parse('2026-03-01T10:00:00Z'),
        badgeClass: 'https://b/1',
        issuer: '',
        recipient: 'https://u/1',
        actor: 'https://app',
        edApp: '',
        badge: true,
        receivedAt: 1,
      },
      {
        tenant,
        eventId: `urn:uuid:${id}-graded`,
        action: 'GradeEvent:Graded',
        time: Date.parse('2026-03-01T10:00:00Z'),
        badgeClass: '',
        issuer: '',
        recipient: 'https://u/1',
        actor: 'https://app',
        edApp: '',
        badge: false,
        receivedAt: 1,
      },
      {
        tenant: 'another',
        eventId: `urn:uuid:${id}-other`,
        action: 'Issued',
        time: Date.parse('2026-03-01T10:00:00Z'),
        badgeClass: 'https://b/1',
        issuer: '',
        recipient: 'https://u/2',
        actor: 'https://app',
        edApp: '',
        badge: true,
        receivedAt: 1,
      },
    ];
    const entry = (id: string): SliceEntry => ({ _id: `${tenant}-${id}`, group: 'g', partition: 0, fromOffset: 0, toOffset: 0, tick: 0, at: new Date(), events: 3, owner: 'o' });

    function connector(): LrsConnector {
      return new LrsConnector(
        store.db,
        {
          endpoint,
          tenant,
          authorization: '',
          batch: 10,
          timeoutMs: 5_000,
          backoff: { baseMs: 10, maxMs: 50 },
          destinations: { allowPrivateAddresses: false, allowedPrivateHosts: [host], hint: 'a test LRS' },
        },
        createLogger('test', 'silent'),
        createMetricsRegistry('test'),
      );
    }

    beforeAll(async () => {
      ({ endpoint, host } = await lrs.start());
    });

    afterAll(async () => {
      await lrs.close();
      await store.db.collection('reporting_xapi_pushes').deleteMany({ tenant });
    });

    it('pushes the tenant badge events of each slice once, and after a restart pushes only the slices not pushed before', async () => {
      const first = connector();
      await first.init();
      expect(first.status()).toMatchObject({ pushedSlices: 0, pushedStatements: 0, lastPushedAt: null });
      first.start();
      first.offer(entry('s1'), facts('s1'));
      first.offer(entry('none'), facts('none').slice(1));
      await until(
        'the first slice pushed',
        () => first.status(),
        (s) => s.pushedSlices === 1,
      );
      await first.stop();
      expect([...lrs.statements.values()].map((s) => (s.context as { extensions: Record<string, string> }).extensions['https://w3id.org/badgestream/xapi/caliper-event-id'])).toEqual([
        'urn:uuid:s1-issued',
      ]);
      const posts = lrs.posts;

      await store.reopen();
      const second = connector();
      await second.init();
      expect(second.status()).toMatchObject({ pushedSlices: 1, pushedStatements: 1, lastPushedAt: expect.any(String), queuedSlices: 0 });
      second.start();
      second.offer(entry('s1'), facts('s1'));
      expect(second.status().queuedSlices).toBe(0);
      second.offer(entry('s2'), facts('s2'));
      await until(
        'the second slice pushed',
        () => second.status(),
        (s) => s.pushedSlices === 2,
      );
      await second.stop();
      expect(lrs.posts).toBe(posts + 1);
      expect(lrs.statements.size).toBe(2);
    });
  });
});
