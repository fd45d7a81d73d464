import type { Collection, Db } from 'mongodb';
import { CONSUMER_ACTIONS, type BadgeAction } from '@badgestream/profile-open-badges';
import { ConflictError, InvalidInputError } from '../errors.js';
import { findByIds } from './by-id.js';

/** How Badgestream came to know a hosted badge object. */
export type BadgeObjectSource = 'event' | 'entity' | 'admin';

export interface HostedBadgeObject {
  /** The object's hosted IRI. */
  iri: string;
  tenant: string;
  type: string;
  /** The object's JSON as last described. */
  object: Record<string, unknown>;
  source: BadgeObjectSource;
  updatedAt: Date;
}

interface HostedBadgeObjectDoc {
  /** The IRI: one issuer hosts an IRI, so it is unique across tenants. */
  _id: string;
  tenant: string;
  type: string;
  /** Kept as text: badge objects may have keys with dots, which the server refuses. */
  json: string;
  source: BadgeObjectSource;
  updatedAt: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * The badge objects each tenant hosts (collection `hosted_badge_objects`), learnt from its
 * `Defined` and `Modified` events, its entity describes, and the admin API. Reports from
 * consumers count only when they are about one of them.
 */
export class MongoHostedBadgeObjects {
  private readonly docs: Collection<HostedBadgeObjectDoc>;

  constructor(db: Db) {
    this.docs = db.collection<HostedBadgeObjectDoc>('hosted_badge_objects');
  }

  async init(): Promise<void> {
    await this.docs.createIndex({ tenant: 1 });
  }

  /** Stores (or replaces) a tenant's badge object; ConflictError when another tenant hosts the IRI. */
  async put(tenant: string, object: Record<string, unknown>, source: BadgeObjectSource): Promise<HostedBadgeObject> {
    const iri = object.id;
    const type = object.type;
    if (typeof iri !== 'string' || typeof type !== 'string') throw new InvalidInputError('a badge object needs an id (its hosted IRI) and a type');
    const doc: HostedBadgeObjectDoc = { _id: iri, tenant, type, json: JSON.stringify(object), source, updatedAt: new Date() };
    try {
      await this.docs.replaceOne({ _id: iri, tenant }, doc, { upsert: true });
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) throw new ConflictError(`${iri} is a badge object of another tenant`);
      throw error;
    }
    return toObject(doc);
  }

  /**
   * Records what a sensor described, skipping IRIs another tenant hosts (a sensor cannot take
   * over another issuer's badge objects). Returns the IRIs skipped.
   */
  async record(tenant: string, objects: readonly Record<string, unknown>[], source: BadgeObjectSource): Promise<string[]> {
    const skipped: string[] = [];
    for (const object of objects) {
      try {
        await this.put(tenant, object, source);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        skipped.push(object.id as string);
      }
    }
    return skipped;
  }

  async remove(tenant: string, iris: readonly string[]): Promise<void> {
    if (iris.length > 0) await this.docs.deleteMany({ _id: { $in: [...iris] }, tenant });
  }

  async get(iri: string): Promise<HostedBadgeObject | undefined> {
    const doc = await this.docs.findOne({ _id: iri });
    return doc ? toObject(doc) : undefined;
  }

  /** Which of these IRIs the tenant hosts. */
  async hostedBy(tenant: string, iris: readonly string[]): Promise<Set<string>> {
    if (iris.length === 0) return new Set();
    const docs = await findByIds(this.docs, iris, { filter: { tenant }, projection: { _id: 1 } });
    return new Set(docs.map((d) => d._id));
  }

  /** The tenants hosting these IRIs, by IRI. */
  async hostsOf(iris: readonly string[]): Promise<Map<string, string>> {
    if (iris.length === 0) return new Map();
    const docs = await findByIds(this.docs, iris, { projection: { _id: 1, tenant: 1 } });
    return new Map(docs.map((d) => [d._id, d.tenant]));
  }

  async list(tenant: string, limit = 500): Promise<HostedBadgeObject[]> {
    return (await this.docs.find({ tenant }).sort({ _id: 1 }).limit(limit).toArray()).map(toObject);
  }
}

function toObject(doc: HostedBadgeObjectDoc): HostedBadgeObject {
  return { iri: doc._id, tenant: doc.tenant, type: doc.type, object: JSON.parse(doc.json) as Record<string, unknown>, source: doc.source, updatedAt: doc.updatedAt };
}

/** The actions anonymous consumers may report, where a tenant allows it. */
export const ANONYMOUS_ACTIONS = ['Verified', 'Accessed'] as const satisfies readonly BadgeAction[];

/** What an issuer asks consumers to report back, advertised in its badge objects' ims:TBAcaliperApi. */
export interface ReportingSettings {
  tenant: string;
  /** The consumer actions wanted (advertised, and the only ones accepted from consumers). */
  actions: BadgeAction[];
  /** Whether Verified and Accessed may be reported without a token (with stricter limits). */
  anonymous: boolean;
  updatedAt?: Date;
}

interface ReportingSettingsDoc {
  _id: string;
  actions: BadgeAction[];
  anonymous: boolean;
  updatedAt: Date;
}

/** Per-tenant reporting settings (collection `reporting_settings`, one document per tenant). */
export class MongoReportingSettings {
  private readonly docs: Collection<ReportingSettingsDoc>;

  constructor(db: Db) {
    this.docs = db.collection<ReportingSettingsDoc>('reporting_settings');
  }

  /** A tenant that never chose asks for every consumer action, with a token. */
  async get(tenant: string): Promise<ReportingSettings> {
    const doc = await this.docs.findOne({ _id: tenant });
    return doc ? { tenant, actions: doc.actions, anonymous: doc.anonymous, updatedAt: doc.updatedAt } : { tenant, actions: [...CONSUMER_ACTIONS], anonymous: false };
  }

  async put(tenant: string, input: unknown): Promise<ReportingSettings> {
    const { actions, anonymous } = validateReportingSettings(input);
    const doc: ReportingSettingsDoc = { _id: tenant, actions, anonymous, updatedAt: new Date() };
    await this.docs.replaceOne({ _id: tenant }, doc, { upsert: true });
    return { tenant, actions, anonymous, updatedAt: doc.updatedAt };
  }
}

/** Checks a settings request; the error names the field and what is expected. */
export function validateReportingSettings(input: unknown): { actions: BadgeAction[]; anonymous: boolean } {
  const shape = `{"actions": [${CONSUMER_ACTIONS.map((a) => `"${a}"`).join(', ')}], "anonymous": boolean}`;
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidInputError(`the reporting settings must be a JSON object: ${shape}`);
  const { actions, anonymous, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidInputError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the fields are actions and anonymous`);
  if (!Array.isArray(actions) || actions.length === 0) throw new InvalidInputError(`actions must be a non-empty list of ${CONSUMER_ACTIONS.join(', ')}`);
  actions.forEach((a, i) => {
    if (!(CONSUMER_ACTIONS as readonly unknown[]).includes(a)) throw new InvalidInputError(`actions/${i}: ${JSON.stringify(a)} is not an action consumers report; use ${CONSUMER_ACTIONS.join(', ')}`);
  });
  if (anonymous !== undefined && typeof anonymous !== 'boolean') throw new InvalidInputError('anonymous must be true or false');
  return { actions: [...new Set(actions as BadgeAction[])], anonymous: anonymous ?? false };
}
