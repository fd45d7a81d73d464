import { entityId } from '@badgestream/caliper';
import { parseDuration, type Duration } from './duration.js';
import type { CaliperEventLike, Condition, Criteria, EntityMatch, EventMatch, Requirement } from './types.js';

/** An event requirement, penalty or prerequisite, ready to test events. */
export interface CompiledLeaf {
  id: string;
  kind: 'requirement' | 'penalty' | 'prerequisite';
  description?: string;
  selects(event: CaliperEventLike): boolean;
  passes(event: CaliperEventLike): boolean;
  keyOf?(event: CaliperEventLike): string | undefined;
  /** latestBy: only the latest event of each key counts. */
  latest: boolean;
  /** Whether `atLeast` counts distinct keys (latestBy or distinct) rather than events. */
  distinct: boolean;
  atLeast: number;
  after: number;
  before: number;
  /** Penalties that void this requirement. */
  penalties: string[];
  /** Requirements that must be met before this one counts events (order). */
  follows: string[];
}

export type CompiledNode =
  | { kind: 'leaf'; id: string }
  | { kind: 'all' | 'any'; id?: string; description?: string; children: CompiledNode[] }
  | { kind: 'atLeast'; id?: string; description?: string; atLeast: number; children: CompiledNode[] };

export interface CompiledCriteria {
  criteria: Criteria;
  tree: CompiledNode;
  /** Event requirements in document order. */
  requirements: CompiledLeaf[];
  /** Event requirements in an order where each comes after those it must follow. */
  requirementsInOrder: CompiledLeaf[];
  penalties: CompiledLeaf[];
  prerequisites: CompiledLeaf[];
  /** Everything that can select an event, by id. */
  byId: Map<string, CompiledLeaf>;
  window?: Duration;
  expiresAfter?: Duration;
  whenUnmet: 'revoke' | 'keep';
  awardAgain: boolean;
}

const compiled = new WeakMap<Criteria, CompiledCriteria>();

/** Compiles criteria once per document object (a WeakMap cache): callers keep the same object. Assumes valid criteria. */
export function compileCriteria(criteria: Criteria): CompiledCriteria {
  let result = compiled.get(criteria);
  if (!result) {
    result = compile(criteria);
    compiled.set(criteria, result);
  }
  return result;
}

export function prerequisiteId(badgeClass: string): string {
  return `prerequisite:${badgeClass}`;
}

function compile(criteria: Criteria): CompiledCriteria {
  const rootAfter = criteria.after ? Date.parse(criteria.after) : -Infinity;
  const rootBefore = criteria.before ? Date.parse(criteria.before) : Infinity;
  const requirements: CompiledLeaf[] = [];
  const penaltiesOf = new Map<string, string[]>();
  for (const penalty of criteria.penalties ?? []) {
    for (const target of penalty.unmeets) penaltiesOf.set(target, [...(penaltiesOf.get(target) ?? []), penalty.id]);
  }
  const predecessorsOf = new Map<string, string[]>();
  for (const [first, then] of criteria.order ?? []) predecessorsOf.set(then, [...(predecessorsOf.get(then) ?? []), first]);

  const compileNode = (node: Requirement): CompiledNode => {
    if ('match' in node) {
      const path = node.latestBy ?? node.distinct;
      requirements.push({
        id: node.id,
        kind: 'requirement',
        description: node.description,
        selects: compileMatch(node.match),
        passes: compileConditions(node.where ?? []),
        keyOf: path ? keyReader(path) : undefined,
        latest: node.latestBy !== undefined,
        distinct: path !== undefined,
        atLeast: node.atLeast ?? 1,
        after: Math.max(rootAfter, node.after ? Date.parse(node.after) : -Infinity),
        before: Math.min(rootBefore, node.before ? Date.parse(node.before) : Infinity),
        penalties: penaltiesOf.get(node.id) ?? [],
        follows: predecessorsOf.get(node.id) ?? [],
      });
      return { kind: 'leaf', id: node.id };
    }
    if ('all' in node) return { kind: 'all', id: node.id, description: node.description, children: node.all.map(compileNode) };
    if ('any' in node) return { kind: 'any', id: node.id, description: node.description, children: node.any.map(compileNode) };
    return { kind: 'atLeast', id: node.id, description: node.description, atLeast: node.atLeast, children: node.of.map(compileNode) };
  };
  const tree = compileNode(criteria.requirement);

  const penalties: CompiledLeaf[] = (criteria.penalties ?? []).map((penalty) => ({
    id: penalty.id,
    kind: 'penalty',
    description: penalty.description,
    selects: compileMatch(penalty.match),
    passes: compileConditions(penalty.where ?? []),
    latest: false,
    distinct: false,
    atLeast: 1,
    after: -Infinity,
    before: Infinity,
    penalties: [],
    follows: [],
  }));
  const prerequisites: CompiledLeaf[] = (criteria.prerequisites ?? []).map((prerequisite) => ({
    id: prerequisiteId(prerequisite.badgeClass),
    kind: 'prerequisite',
    description: prerequisite.description ?? `holds the badge ${prerequisite.badgeClass}`,
    selects: (event) =>
      event.type === 'BadgeEvent' &&
      (event.action === 'Issued' || event.action === 'Revoked') &&
      assertionBadge(event.object) === prerequisite.badgeClass,
    passes: (event) => event.action === 'Issued',
    keyOf: () => prerequisite.badgeClass,
    latest: true,
    distinct: true,
    atLeast: 1,
    after: -Infinity,
    before: Infinity,
    penalties: [],
    follows: [],
  }));

  const byId = new Map<string, CompiledLeaf>([...requirements, ...penalties, ...prerequisites].map((leaf) => [leaf.id, leaf]));
  const window = criteria.window ? parseDuration(criteria.window) : undefined;
  const expiresAfter = criteria.expiresAfter ? parseDuration(criteria.expiresAfter) : undefined;
  return {
    criteria,
    tree,
    requirements,
    requirementsInOrder: topologicalOrder(requirements),
    penalties,
    prerequisites,
    byId,
    window,
    expiresAfter,
    whenUnmet: criteria.whenUnmet ?? 'revoke',
    awardAgain: criteria.awardAgain ?? true,
  };
}

/** Requirements ordered so that each follows the ones it must come after (the validator rejects cycles). */
function topologicalOrder(requirements: CompiledLeaf[]): CompiledLeaf[] {
  const byId = new Map(requirements.map((leaf) => [leaf.id, leaf]));
  const placed = new Set<string>();
  const result: CompiledLeaf[] = [];
  const visit = (leaf: CompiledLeaf, depth: number): void => {
    if (placed.has(leaf.id) || depth > requirements.length) return;
    for (const first of leaf.follows) {
      const predecessor = byId.get(first);
      if (predecessor) visit(predecessor, depth + 1);
    }
    placed.add(leaf.id);
    result.push(leaf);
  };
  for (const leaf of requirements) visit(leaf, 0);
  return result;
}

function assertionBadge(object: unknown): string | undefined {
  if (!object || typeof object !== 'object') return undefined;
  const assertion = object as Record<string, unknown>;
  return assertion.type === 'Assertion' ? entityId(assertion.badge) : undefined;
}

const asList = (value: string | string[] | undefined): string[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);

function compileMatch(match: EventMatch): (event: CaliperEventLike) => boolean {
  const types = asList(match.type);
  const actions = asList(match.action);
  const entities = (['object', 'generated', 'group', 'edApp'] as const).flatMap((field) => {
    const selector = match[field];
    return selector ? [[field, compileEntityMatch(selector)] as const] : [];
  });
  return (event) =>
    (!types || types.includes(event.type as string)) &&
    (!actions || actions.includes(event.action as string)) &&
    entities.every(([field, test]) => test(event[field]));
}

function compileEntityMatch(selector: EntityMatch): (entity: unknown) => boolean {
  const ids = asList(selector.id);
  const prefixes = asList(selector.idPrefix);
  const types = asList(selector.type);
  return (entity) => {
    if (entity === undefined || entity === null) return false;
    const id = entityId(entity);
    if (ids && (id === undefined || !ids.includes(id))) return false;
    if (prefixes && (id === undefined || !prefixes.some((prefix) => id.startsWith(prefix)))) return false;
    if (types) {
      const type = typeof entity === 'object' ? (entity as Record<string, unknown>).type : undefined;
      if (typeof type !== 'string' || !types.includes(type)) return false;
    }
    return true;
  };
}

/**
 * Reads a dotted path. An entity given by its IRI has that IRI as its id, so `object.assignable.id`
 * reads the same whether `assignable` is embedded or an IRI.
 */
export function readPath(event: CaliperEventLike, path: string): unknown {
  let value: unknown = event;
  for (const segment of path.split('.')) {
    if (typeof value === 'string' && segment === 'id') return value;
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function keyReader(path: string): (event: CaliperEventLike) => string | undefined {
  return (event) => {
    const value = readPath(event, path);
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  };
}

interface NumericTest {
  min?: number;
  max?: number;
  greaterThan?: number;
  lessThan?: number;
}

function numericTest(test: NumericTest, value: number): boolean {
  return (
    (test.min === undefined || value >= test.min) &&
    (test.max === undefined || value <= test.max) &&
    (test.greaterThan === undefined || value > test.greaterThan) &&
    (test.lessThan === undefined || value < test.lessThan)
  );
}

const hasNumericTest = (test: NumericTest): boolean =>
  test.min !== undefined || test.max !== undefined || test.greaterThan !== undefined || test.lessThan !== undefined;

/** The score as a ratio of its maximum: generated.scoreGiven / generated.maxScore. */
export function scoreRatio(event: CaliperEventLike): number | undefined {
  const given = readPath(event, 'generated.scoreGiven');
  const max = readPath(event, 'generated.maxScore');
  return typeof given === 'number' && typeof max === 'number' && max > 0 ? given / max : undefined;
}

function compileCondition(condition: Condition): (event: CaliperEventLike) => boolean {
  if ('scoreRatio' in condition) {
    return (event) => {
      const ratio = scoreRatio(event);
      return ratio !== undefined && numericTest(condition.scoreRatio, ratio);
    };
  }
  const { field } = condition;
  return (event) => {
    const value = readPath(event, field);
    if (value === undefined || value === null) return false;
    if (condition.equals !== undefined && value !== condition.equals) return false;
    if (condition.in !== undefined && !condition.in.includes(value as string | number | boolean)) return false;
    if (hasNumericTest(condition) && (typeof value !== 'number' || !numericTest(condition, value))) return false;
    return true;
  };
}

function compileConditions(conditions: Condition[]): (event: CaliperEventLike) => boolean {
  const tests = conditions.map(compileCondition);
  return (event) => tests.every((test) => test(event));
}

