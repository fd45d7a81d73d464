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

/** The activation of a version: the seq-th entry of its badge class's activation log, written at `at`. */
export interface CriteriaActivation {
  badgeClass: string;
  version: number;
  seq: number;
  at: Date;
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
}

/** One entry of a badge class's activation log: the seq-th activation or retirement, of which version, when. */
interface ActivationDoc {
  _id: string;
  tenant: string;
  badgeClass: string;
  seq: number;
  action: 'activate' | 'retire';
  version: number;
  at: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * Versioned criteria per tenant and badge class (collection `criteria_definitions`, `_id`
 * `<tenant>|<badge class>|<version>`). A version is stored as a draft, then activated; one
 * version of a badge class at most is in force.
 *
 * Without transactions, and on FerretDB 1.24 (SQLite), where concurrent `$inc` and conditional
 * updates of one document are not atomic, the one write that decides which version is in force
 * is an insert under a unique `_id`: each activation or retirement of an active version appends
 * the next numbered entry to the badge class's log (collection `criteria_activations`). The
 * version in force is the one the log's last activation names, unless a later entry retired it.
 * `status` in `criteria_definitions` mirrors the log and is brought up to date right after the
 * entry is written; every read here takes the in-force version from the log, so a crash between
 * the two writes, or concurrent activations, never shows two active versions, nor none when one
 * was activated. Activating or retiring again brings the mirror up to date.
 *
 * The root `$schema` of a document (an editor hint) is not stored: MongoDB field names cannot
 * start with `$`, and it says nothing about the criteria.
 */
export class MongoCriteriaDefinitions {
  private readonly definitions: Collection<CriteriaDefinitionDoc>;
  private readonly log: Collection<ActivationDoc>;

  constructor(db: Db) {
    this.definitions = db.collection<CriteriaDefinitionDoc>('criteria_definitions');
    this.log = db.collection<ActivationDoc>('criteria_activations');
  }

  async init(): Promise<void> {
    await this.definitions.createIndex({ tenant: 1, badgeClass: 1, version: -1 });
    await this.definitions.createIndex({ status: 1 });
    await this.log.createIndex({ tenant: 1, badgeClass: 1, seq: -1 });
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
    const existing = await this.get(tenant, badgeClass, version);
    if (!existing) throw new ConflictError(`version ${version} of ${badgeClass} is being stored concurrently; try again`);
    if (canonicalJson(existing.criteria) === canonicalJson(criteria)) return { definition: existing, created: false };
    const latest = (await this.latest(tenant, badgeClass))?.version ?? version;
    throw new ConflictError(`version ${version} of ${badgeClass} is already stored with a different document; a stored version never changes: bump "version" to ${latest + 1}`);
  }

  /** Every version of every badge class of the tenant (or of one badge class), by badge class then version. */
  async list(tenant: string, filter: { badgeClass?: string } = {}): Promise<CriteriaDefinition[]> {
    const byBadgeClass = filter.badgeClass !== undefined ? { badgeClass: filter.badgeClass } : {};
    const [docs, inForce] = await Promise.all([this.definitions.find({ tenant, ...byBadgeClass }).sort({ badgeClass: 1, version: 1 }).toArray(), this.inForce({ tenant, ...byBadgeClass })]);
    return docs.map((doc) => withStatus(doc, inForce));
  }

  /** One version, or the highest stored version when none is given; undefined when there is none. */
  async get(tenant: string, badgeClass: string, version?: number): Promise<CriteriaDefinition | undefined> {
    const [doc, inForce] = await Promise.all([
      version === undefined ? this.latest(tenant, badgeClass) : this.definitions.findOne({ _id: definitionId(tenant, badgeClass, version) }),
      this.inForce({ tenant, badgeClass }),
    ]);
    return doc ? withStatus(doc, inForce) : undefined;
  }

  /**
   * Makes a stored version the one in force for its badge class, retiring the one in force
   * before. `definition.status` is not 'active' only when a concurrent activation came later.
   */
  async activate(tenant: string, badgeClass: string, version: number): Promise<{ definition: CriteriaDefinition; retired: CriteriaDefinition[] }> {
    if (!(await this.definitions.findOne({ _id: definitionId(tenant, badgeClass, version) }))) throw notFound(tenant, badgeClass, version);
    const before = (await this.inForce({ tenant, badgeClass })).get(badgeKey(tenant, badgeClass));
    await this.append(tenant, badgeClass, 'activate', version);
    await this.mirror(tenant, badgeClass);
    const after = await this.list(tenant, { badgeClass });
    return {
      definition: after.find((d) => d.version === version)!,
      retired: after.filter((d) => d.version === before && d.version !== version && d.status === 'retired'),
    };
  }

  /** Retires a version: the one in force stops being applied, a draft is abandoned. Idempotent. */
  async retire(tenant: string, badgeClass: string, version: number): Promise<CriteriaDefinition> {
    const current = await this.get(tenant, badgeClass, version);
    if (!current) throw notFound(tenant, badgeClass, version);
    if (current.status === 'active') {
      await this.append(tenant, badgeClass, 'retire', version);
      await this.mirror(tenant, badgeClass);
    } else if (current.status === 'draft') {
      await this.definitions.updateOne({ _id: definitionId(tenant, badgeClass, version), status: 'draft' }, { $set: { status: 'retired', retiredAt: new Date() } });
    }
    return (await this.get(tenant, badgeClass, version))!;
  }

  /** The criteria in force for each badge class of the tenant, by badge class. */
  async active(tenant: string): Promise<CriteriaDefinition[]> {
    return this.inForceDefinitions(await this.inForce({ tenant }), { tenant, status: 'active' });
  }

  /** The criteria in force for each badge class of every tenant: what the criteria consumer caches. */
  async activeForAllTenants(): Promise<CriteriaDefinition[]> {
    return this.inForceDefinitions(await this.inForce({}), { status: 'active' });
  }

  /**
   * The last activation of each version of the tenant's criteria that was ever activated (its
   * number in the badge class's log, and when), whether still in force or not. A version activated
   * again is evaluated over the history again: backfill progress is kept per activation.
   */
  async lastActivations(tenant: string): Promise<CriteriaActivation[]> {
    const last = new Map<string, CriteriaActivation>();
    for (const entry of await this.log.find({ tenant, action: 'activate' }).sort({ seq: 1 }).toArray()) {
      last.set(`${entry.version}|${entry.badgeClass}`, { badgeClass: entry.badgeClass, version: entry.version, seq: entry.seq, at: entry.at });
    }
    return [...last.values()];
  }

  /** The version in force per `<tenant>|<badge class>`, from the activation log. */
  private async inForce(filter: { tenant?: string; badgeClass?: string }): Promise<Map<string, number>> {
    const current = new Map<string, number>();
    for (const entry of await this.log.find(filter).sort({ seq: 1 }).toArray()) {
      const key = badgeKey(entry.tenant, entry.badgeClass);
      if (entry.action === 'activate') current.set(key, entry.version);
      else if (current.get(key) === entry.version) current.delete(key);
    }
    return current;
  }

  private async inForceDefinitions(inForce: Map<string, number>, mirrored: { tenant?: string; status: 'active' }): Promise<CriteriaDefinition[]> {
    const found = new Map((await this.definitions.find(mirrored).toArray()).map((doc) => [doc._id, doc]));
    const docs = await Promise.all(
      [...inForce].map(async ([key, version]) => {
        const id = `${key}|${version}`;
        return found.get(id) ?? (await this.definitions.findOne({ _id: id }));
      }),
    );
    return docs
      .filter((doc): doc is CriteriaDefinitionDoc => doc !== null)
      .map((doc) => withStatus(doc, inForce))
      .sort((a, b) => compare(a.tenant, b.tenant) || compare(a.badgeClass, b.badgeClass));
  }

  /** Appends the next entry to the badge class's log; the unique `_id` makes concurrent appends take distinct numbers. */
  private async append(tenant: string, badgeClass: string, action: ActivationDoc['action'], version: number): Promise<void> {
    for (;;) {
      const last = await this.log.find({ tenant, badgeClass }).sort({ seq: -1 }).limit(1).next();
      const seq = (last?.seq ?? 0) + 1;
      try {
        await this.log.insertOne({ _id: `${badgeKey(tenant, badgeClass)}|${seq}`, tenant, badgeClass, seq, action, version, at: new Date() });
        return;
      } catch (error) {
        if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
      }
    }
  }

  /**
   * Brings `status` of the badge class's versions in line with the log, until a pass finds
   * nothing to change: a concurrent activation that read the log before this one's entry may
   * write after it, and its own next pass, or this one's, puts that right.
   */
  private async mirror(tenant: string, badgeClass: string): Promise<void> {
    for (let pass = 0; pass < 10; pass++) {
      const version = (await this.inForce({ tenant, badgeClass })).get(badgeKey(tenant, badgeClass));
      const now = new Date();
      let changed = false;
      for (const doc of await this.definitions.find({ tenant, badgeClass }).toArray()) {
        if (doc.version === version && doc.status !== 'active') await this.definitions.updateOne({ _id: doc._id }, { $set: { status: 'active', activatedAt: now } });
        else if (doc.version !== version && doc.status === 'active') await this.definitions.updateOne({ _id: doc._id }, { $set: { status: 'retired', retiredAt: now } });
        else continue;
        changed = true;
      }
      if (!changed) return;
    }
  }

  private latest(tenant: string, badgeClass: string): Promise<CriteriaDefinitionDoc | null> {
    return this.definitions.find({ tenant, badgeClass }).sort({ version: -1 }).limit(1).next();
  }
}

/** The definition with its status as the log says: active when in force, otherwise never active. */
function withStatus(doc: CriteriaDefinitionDoc, inForce: Map<string, number>): CriteriaDefinition {
  const active = inForce.get(badgeKey(doc.tenant, doc.badgeClass)) === doc.version;
  const status: CriteriaStatus = active ? 'active' : doc.status === 'active' ? 'retired' : doc.status;
  return { ...toDefinition(doc), status };
}

function badgeKey(tenant: string, badgeClass: string): string {
  return `${tenant}|${badgeClass}`;
}

function definitionId(tenant: string, badgeClass: string, version: number): string {
  // Unambiguous: a tenant name has no '|', and the version is the digits after the last one.
  return `${badgeKey(tenant, badgeClass)}|${version}`;
}

function notFound(tenant: string, badgeClass: string, version: number): NotFoundError {
  return new NotFoundError(`tenant ${tenant} has no version ${version} of the criteria of ${badgeClass}`);
}

function withoutSchemaHint(criteria: Criteria): Criteria {
  const { $schema: _hint, ...rest } = criteria;
  return rest;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted, so that key order does not make two equal documents differ. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => compare(a, b))) : v,
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
