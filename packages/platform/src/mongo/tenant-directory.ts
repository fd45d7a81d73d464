import type { Collection, Db } from 'mongodb';
import { mintToken, parseToken, secretMatches, tenantNameProblem } from '../api-keys.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { SCOPES, type ApiKey, type Principal, type Scope, type Tenant, type TenantDirectory } from '../ports.js';

interface TenantDoc {
  _id: string;
  createdAt: Date;
}

interface ApiKeyDoc {
  _id: string;
  tenant: string;
  scope: Scope;
  label?: string;
  secretHash: string;
  createdAt: Date;
  revokedAt?: Date;
}

const DUPLICATE_KEY = 11000;

/** Tenants and API keys in MongoDB (collections `tenants` and `api_keys`). */
export class MongoTenantDirectory implements TenantDirectory {
  private readonly tenants: Collection<TenantDoc>;
  private readonly keys: Collection<ApiKeyDoc>;

  constructor(private readonly db: Db) {
    this.tenants = db.collection<TenantDoc>('tenants');
    this.keys = db.collection<ApiKeyDoc>('api_keys');
  }

  async init(): Promise<void> {
    await this.keys.createIndex({ tenant: 1 });
  }

  async createTenant(name: string): Promise<Tenant> {
    const problem = tenantNameProblem(name);
    if (problem) throw new InvalidInputError(problem);
    const doc: TenantDoc = { _id: name, createdAt: new Date() };
    try {
      await this.tenants.insertOne(doc);
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) throw new ConflictError(`tenant ${name} already exists`);
      throw error;
    }
    return { name, createdAt: doc.createdAt };
  }

  async listTenants(): Promise<Tenant[]> {
    const docs = await this.tenants.find({}).sort({ _id: 1 }).toArray();
    return docs.map((d) => ({ name: d._id, createdAt: d.createdAt }));
  }

  async createKey(tenant: string, scope: Scope, label?: string): Promise<{ key: ApiKey; token: string }> {
    if (!SCOPES.includes(scope)) throw new InvalidInputError(`scope ${JSON.stringify(scope)} must be one of ${SCOPES.join(', ')}`);
    if (!(await this.tenants.findOne({ _id: tenant }))) throw new NotFoundError(`tenant ${tenant} does not exist; create it with: badgestream tenants create ${tenant}`);
    const minted = mintToken();
    const doc: ApiKeyDoc = { _id: minted.keyId, tenant, scope, secretHash: minted.secretHash, createdAt: new Date(), ...(label ? { label } : {}) };
    await this.keys.insertOne(doc);
    return { key: toApiKey(doc), token: minted.token };
  }

  async listKeys(tenant: string): Promise<ApiKey[]> {
    const docs = await this.keys.find({ tenant }).sort({ createdAt: 1 }).toArray();
    return docs.map(toApiKey);
  }

  async revokeKey(keyId: string): Promise<ApiKey> {
    const doc = await this.keys.findOneAndUpdate({ _id: keyId }, { $min: { revokedAt: new Date() } }, { returnDocument: 'after' });
    if (!doc) throw new NotFoundError(`API key ${keyId} does not exist`);
    return toApiKey(doc);
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const doc = await this.keys.findOne({ _id: parsed.keyId });
    if (!doc || doc.revokedAt || !secretMatches(parsed.secret, doc.secretHash)) return undefined;
    return { tenant: doc.tenant, scope: doc.scope, keyId: doc._id };
  }

  async checkReady(): Promise<void> {
    await this.db.command({ ping: 1 });
  }
}

function toApiKey(doc: ApiKeyDoc): ApiKey {
  return {
    id: doc._id,
    tenant: doc.tenant,
    scope: doc.scope,
    createdAt: doc.createdAt,
    ...(doc.label ? { label: doc.label } : {}),
    ...(doc.revokedAt ? { revokedAt: doc.revokedAt } : {}),
  };
}
