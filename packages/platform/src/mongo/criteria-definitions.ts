import type { Collection, Db } from 'mongodb';
import { validateCriteria, type Criteria, type CriteriaProblem } from '@badgestream/criteria';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';

export type CriteriaStatus = 'draft' | 'active' | 'retired';

/** One version of the criteria of a badge class of a tenant, as stored. */
export interface CriteriaDefinition {
  tenant: string;
  badgeClass: string;
  version: number;
  status: CriteriaStatus;
  criteria: Criteria;
  createdAt: Date;
  /** When it last became active. */
  activatedAt?: Date;
  /** When it last stopped being active (or was abandoned as a draft). */
  retiredAt?: Date;
}

/** A criteria document that does not validate; `problems` names each failing place by JSON pointer. */
export class InvalidCriteriaError extends InvalidInputError {
  readonly problems: readonly CriteriaProblem[];
  constructor(problems: readonly CriteriaProblem[]) {
    super(`the criteria document is invalid: ${problems.map((p) => `${p.pointer || '/'}: ${p.reason}`).join('; ')}`);
    this.problems = problems;
  }
}

interface CriteriaDefinitionDoc extends CriteriaDefinition {
  _id: string;
  /** The activation sequence number of the badge class when this version last became active. */
  activation?: number;
}

interface ActivationCounterDoc {
  _id: string;
  tenant: string;
  seq: number;
}

const DUPLICATE_KEY = 11000;

/**
 * Versioned criteria per tenant and badge class (collection `criteria_definitions`, `_id`
 * `<tenant>|<badge class>|<version>`). A version is stored as a draft, then activated; at most
 * one version of a badge class is meant to be active.
 *
 * Activation without transactions: each activation takes the next number of the badge class's
 * sequence (collection `criteria_activations`), marks its version active with that number, and
 * only then retires the other active versions with a lower number. A crash between the writes
 * leaves two active versions at most; `active()` then takes the one activated last (the highest
 * number), which is the one the interrupted activation meant, and running the activation again
 * finishes it. Ordering by activation rather than by version makes a rollback (activating an
 * older version again) win too, and two concurrent activations can never leave none active.
 *
 * The root `$schema` of a document (an editor hint) is not stored: MongoDB field names cannot
 * start with `$`, and it says nothing about the criteria.
 */
export class MongoCriteriaDefinitions {
  private readonly definitions: Collection<CriteriaDefinitionDoc>;
  private readonly activations: Collection<ActivationCounterDoc>;

  constructor(db: Db) {
    this.definitions = db.collection<CriteriaDefinitionDoc>('criteria_definitions');
    this.activations = db.collection<ActivationCounterDoc>('criteria_activations');
  }

  async init(): Promise<void> {
    await this.definitions.createIndex({ tenant: 1, badgeClass: 1, version: -1 });
    await this.definitions.createIndex({ status: 1 });
  }

  /**
   * Validates and stores a new version as a draft. Storing the same document again changes
   * nothing (`created: false`); another document under a stored version is a ConflictError.
   */
  async put(tenant: string, doc: unknown): Promise<{ definition: CriteriaDefinition; created: boolean }> {
    const validation = validateCriteria(doc);
    if (!validation.ok) throw new InvalidCriteriaError(validation.problems);
    const criteria = withoutSchemaHint(validation.criteria);
    const { badgeClass, version } = criteria;
    const stored: CriteriaDefinitionDoc = { _id: definitionId(tenant, badgeClass, version), tenant, badgeClass, version, status: 'draft', criteria, createdAt: new Date() };
    try {
      await this.definitions.insertOne(stored);
      return { definition: toDefinition(stored), created: true };
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
    const existing = await this.definitions.findOne({ _id: stored._id });
    if (!existing) throw new ConflictError(`version ${version} of ${badgeClass} is being stored concurrently; try again`);
    if (canonicalJson(existing.criteria) === canonicalJson(criteria)) return { definition: toDefinition(existing), created: false };
    const latest = (await this.latest(tenant, badgeClass))?.version ?? version;
    throw new ConflictError(`version ${version} of ${badgeClass} is already stored with a different document; a stored version never changes: bump "version" to ${latest + 1}`);
  }

  /** Every version of every badge class of the tenant (or of one badge class), by badge class then version. */
  async list(tenant: string, filter: { badgeClass?: string } = {}): Promise<CriteriaDefinition[]> {
    const docs = await this.definitions
      .find({ tenant, ...(filter.badgeClass !== undefined ? { badgeClass: filter.badgeClass } : {}) })
      .sort({ badgeClass: 1, version: 1 })
      .toArray();
    return docs.map(toDefinition);
  }

  /** One version, or the highest stored version when none is given; undefined when there is none. */
  async get(tenant: string, badgeClass: string, version?: number): Promise<CriteriaDefinition | undefined> {
    const doc = version === undefined ? await this.latest(tenant, badgeClass) : await this.definitions.findOne({ _id: definitionId(tenant, badgeClass, version) });
    return doc ? toDefinition(doc) : undefined;
  }

  /**
   * Makes a version active and retires the version that was active before. Activating the
   * active version again is harmless (and finishes an interrupted activation).
   */
  async activate(tenant: string, badgeClass: string, version: number): Promise<{ definition: CriteriaDefinition; retired: CriteriaDefinition[] }> {
    const id = definitionId(tenant, badgeClass, version);
    if (!(await this.definitions.findOne({ _id: id }))) throw notFound(tenant, badgeClass, version);
    const counter = await this.activations.findOneAndUpdate(
      { _id: `${tenant}|${badgeClass}` },
      { $inc: { seq: 1 }, $setOnInsert: { tenant } },
      { upsert: true, returnDocument: 'after' },
    );
    const seq = counter!.seq;
    const now = new Date();
    await this.definitions.updateOne({ _id: id }, { $set: { status: 'active', activatedAt: now }, $max: { activation: seq } });

    const retired: CriteriaDefinition[] = [];
    for (const other of await this.definitions.find({ tenant, badgeClass, status: 'active' }).toArray()) {
      if (other._id === id || (other.activation ?? 0) >= seq) continue;
      const after = await this.definitions.findOneAndUpdate(
        { _id: other._id, status: 'active', activation: { $lt: seq } },
        { $set: { status: 'retired', retiredAt: now } },
        { returnDocument: 'after' },
      );
      if (after) retired.push(toDefinition(after));
    }
    // A concurrent activation with a higher number finished before this one marked its version
    // active: that one wins, so this version steps back rather than stay active beside it.
    const later = await this.definitions.find({ tenant, badgeClass, status: 'active', activation: { $gt: seq } }).limit(1).toArray();
    if (later.length > 0) await this.definitions.updateOne({ _id: id, status: 'active', activation: seq }, { $set: { status: 'retired', retiredAt: now } });
    return { definition: toDefinition((await this.definitions.findOne({ _id: id }))!), retired };
  }

  /** Retires a version: an active one stops being applied, a draft is abandoned. Idempotent. */
  async retire(tenant: string, badgeClass: string, version: number): Promise<CriteriaDefinition> {
    const id = definitionId(tenant, badgeClass, version);
    const current = await this.definitions.findOne({ _id: id });
    if (!current) throw notFound(tenant, badgeClass, version);
    if (current.status === 'retired') return toDefinition(current);
    const after = await this.definitions.findOneAndUpdate({ _id: id }, { $set: { status: 'retired', retiredAt: new Date() } }, { returnDocument: 'after' });
    return toDefinition(after!);
  }

  /** The criteria in force for each badge class of the tenant. */
  async active(tenant: string): Promise<CriteriaDefinition[]> {
    return inForce(await this.definitions.find({ tenant, status: 'active' }).toArray());
  }

  /** The criteria in force for each badge class of every tenant: what the criteria consumer caches. */
  async activeForAllTenants(): Promise<CriteriaDefinition[]> {
    return inForce(await this.definitions.find({ status: 'active' }).toArray());
  }

  private latest(tenant: string, badgeClass: string): Promise<CriteriaDefinitionDoc | null> {
    return this.definitions.find({ tenant, badgeClass }).sort({ version: -1 }).limit(1).next();
  }
}

/** One active version per tenant and badge class: the one activated last, when an interrupted activation left two. */
function inForce(docs: CriteriaDefinitionDoc[]): CriteriaDefinition[] {
  const chosen = new Map<string, CriteriaDefinitionDoc>();
  for (const doc of docs) {
    const key = `${doc.tenant}|${doc.badgeClass}`;
    const other = chosen.get(key);
    if (!other || activatedLater(doc, other)) chosen.set(key, doc);
  }
  return [...chosen.values()].sort((a, b) => a.tenant.localeCompare(b.tenant) || a.badgeClass.localeCompare(b.badgeClass)).map(toDefinition);
}

function activatedLater(a: CriteriaDefinitionDoc, b: CriteriaDefinitionDoc): boolean {
  const [x, y] = [a.activation ?? 0, b.activation ?? 0];
  return x !== y ? x > y : a.version > b.version;
}

function definitionId(tenant: string, badgeClass: string, version: number): string {
  // Unambiguous: a tenant name has no '|', and the version is the digits after the last one.
  return `${tenant}|${badgeClass}|${version}`;
}

function notFound(tenant: string, badgeClass: string, version: number): NotFoundError {
  return new NotFoundError(`tenant ${tenant} has no version ${version} of the criteria of ${badgeClass}`);
}

function withoutSchemaHint(criteria: Criteria): Criteria {
  const { $schema: _hint, ...rest } = criteria;
  return rest;
}

/** JSON with object keys sorted, so that key order does not make two equal documents differ. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

function toDefinition(doc: CriteriaDefinitionDoc): CriteriaDefinition {
  return {
    tenant: doc.tenant,
    badgeClass: doc.badgeClass,
    version: doc.version,
    status: doc.status,
    criteria: doc.criteria,
    createdAt: doc.createdAt,
    ...(doc.activatedAt ? { activatedAt: doc.activatedAt } : {}),
    ...(doc.retiredAt ? { retiredAt: doc.retiredAt } : {}),
  };
}
