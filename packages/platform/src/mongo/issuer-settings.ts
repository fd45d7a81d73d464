import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { ConflictError, InvalidInputError } from '../errors.js';

/**
 * How a tenant's awards reach its issuer:
 * - `webhook`: an award request (and revocations) POSTed to the tenant's URL, signed;
 * - `badgestream`: Badgestream issues itself, publishing an `Issued` event for each award;
 * - `none`: only the Caliper events (`Demonstrated`, `Revoked`) are published.
 */
export type IssuingMode = 'webhook' | 'badgestream' | 'none';
export const ISSUING_MODES: readonly IssuingMode[] = ['webhook', 'badgestream', 'none'];

/** What may be shown of a tenant's issuing settings: never the secret. */
export interface IssuerSettings {
  tenant: string;
  mode: IssuingMode;
  webhookUrl?: string;
  /** Whether a signing secret is stored (it is shown once, when generated). */
  hasSecret: boolean;
  secretCreatedAt?: Date;
  /** Absent while the tenant has never set anything (mode `none` by default). */
  updatedAt?: Date;
}

/** What the dispatcher needs to deliver: the settings and the signing secret. */
export interface IssuerDeliverySettings {
  mode: IssuingMode;
  webhookUrl?: string;
  secret?: string;
}

export interface IssuerSettingsInput {
  mode: IssuingMode;
  webhookUrl?: string;
  rotateSecret?: boolean;
}

interface IssuerSettingsDoc {
  _id: string;
  mode: IssuingMode;
  webhookUrl?: string;
  /** Kept as is, not hashed: signing needs it. */
  secret?: string;
  secretCreatedAt?: Date;
  updatedAt: Date;
}

const DUPLICATE_KEY = 11000;
const MAX_URL_LENGTH = 2048;

/**
 * Per-tenant issuing settings (collection `issuer_settings`, one document per tenant, keyed by
 * the tenant, so there is nothing to index). The webhook signing secret is generated here,
 * returned once by `put`, and never by `get`.
 */
export class MongoIssuerSettings {
  private readonly docs: Collection<IssuerSettingsDoc>;

  constructor(db: Db) {
    this.docs = db.collection<IssuerSettingsDoc>('issuer_settings');
  }

  async get(tenant: string): Promise<IssuerSettings> {
    const doc = await this.docs.findOne({ _id: tenant });
    return doc ? view(doc) : { tenant, mode: 'none', hasSecret: false };
  }

  async forDelivery(tenant: string): Promise<IssuerDeliverySettings> {
    const doc = await this.docs.findOne({ _id: tenant });
    if (!doc) return { mode: 'none' };
    return { mode: doc.mode, ...(doc.webhookUrl ? { webhookUrl: doc.webhookUrl } : {}), ...(doc.secret ? { secret: doc.secret } : {}) };
  }

  /**
   * Sets the mode (and, for `webhook`, the URL). A signing secret is generated the first time
   * a webhook is set, or when `rotateSecret` asks for a new one; it is returned only then.
   * Other modes keep a stored URL and secret, so switching back to the webhook needs no new secret.
   */
  async put(tenant: string, input: unknown): Promise<{ settings: IssuerSettings; secret?: string }> {
    const { mode, webhookUrl, rotateSecret } = validateIssuerSettings(input);
    if (rotateSecret && mode !== 'webhook') throw new InvalidInputError('rotateSecret applies to mode webhook only: the secret signs webhook deliveries');
    const existing = await this.docs.findOne({ _id: tenant });
    const newSecret = mode === 'webhook' && (rotateSecret || !existing?.secret) ? generateWebhookSecret() : undefined;
    const now = new Date();
    const doc: IssuerSettingsDoc = {
      _id: tenant,
      mode,
      updatedAt: now,
      ...((webhookUrl ?? existing?.webhookUrl) ? { webhookUrl: webhookUrl ?? existing!.webhookUrl } : {}),
      ...(newSecret ? { secret: newSecret, secretCreatedAt: now } : existing?.secret ? { secret: existing.secret, secretCreatedAt: existing.secretCreatedAt! } : {}),
    };
    if (existing) {
      // Compare-and-set on updatedAt: two concurrent changes must not hand out a secret that is not the stored one.
      const result = await this.docs.replaceOne({ _id: tenant, updatedAt: existing.updatedAt }, doc);
      if (result.matchedCount === 0) throw new ConflictError(`the issuing settings of tenant ${tenant} changed at the same time; read them and try again`);
    } else {
      try {
        await this.docs.insertOne(doc);
      } catch (error) {
        if ((error as { code?: number }).code === DUPLICATE_KEY) throw new ConflictError(`the issuing settings of tenant ${tenant} were set at the same time; read them and try again`);
        throw error;
      }
    }
    return { settings: view(doc), ...(newSecret ? { secret: newSecret } : {}) };
  }
}

/** Checks a settings request; the error names the field and what is expected. */
export function validateIssuerSettings(input: unknown): IssuerSettingsInput {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError('the issuing settings must be a JSON object: {"mode": "webhook" | "badgestream" | "none", "webhookUrl"?: URL, "rotateSecret"?: boolean}');
  const { mode, webhookUrl, rotateSecret, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidInputError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the fields are mode, webhookUrl and rotateSecret`);
  if (typeof mode !== 'string' || !ISSUING_MODES.includes(mode as IssuingMode)) {
    throw new InvalidInputError(`mode must be one of ${ISSUING_MODES.join(', ')}; got ${JSON.stringify(mode ?? null)}`);
  }
  if (rotateSecret !== undefined && typeof rotateSecret !== 'boolean') throw new InvalidInputError('rotateSecret must be true or false');
  if (mode !== 'webhook') {
    if (webhookUrl !== undefined) throw new InvalidInputError(`webhookUrl is used in mode webhook only; mode ${mode} delivers no webhook`);
    return { mode: mode as IssuingMode, ...(rotateSecret !== undefined ? { rotateSecret } : {}) };
  }
  if (typeof webhookUrl !== 'string' || webhookUrl === '') throw new InvalidInputError('mode webhook needs webhookUrl: the http(s) URL awards and revocations are POSTed to');
  return { mode: 'webhook', webhookUrl: checkWebhookUrl(webhookUrl), ...(rotateSecret !== undefined ? { rotateSecret } : {}) };
}

function checkWebhookUrl(raw: string): string {
  if (raw.length > MAX_URL_LENGTH) throw new InvalidInputError(`webhookUrl must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(`webhookUrl must be an absolute http(s) URL; got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidInputError(`webhookUrl must be an http or https URL; got scheme ${url.protocol.slice(0, -1)}`);
  if (url.username || url.password) throw new InvalidInputError('webhookUrl must not carry credentials: deliveries are authenticated by their signature');
  if (url.hash) throw new InvalidInputError('webhookUrl must not have a #fragment');
  return url.toString();
}

/** 32 random bytes, as `whsec_<base64url>`; the whole string is the HMAC key. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function view(doc: IssuerSettingsDoc): IssuerSettings {
  return {
    tenant: doc._id,
    mode: doc.mode,
    ...(doc.webhookUrl ? { webhookUrl: doc.webhookUrl } : {}),
    hasSecret: doc.secret !== undefined,
    ...(doc.secretCreatedAt ? { secretCreatedAt: doc.secretCreatedAt } : {}),
    updatedAt: doc.updatedAt,
  };
}
