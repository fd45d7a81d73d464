import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { CRITERIA_SCHEMA_ID, loadSchemas } from '@badgestream/schemas';
import { parseDuration } from './duration.js';
import type { Condition, Criteria, Requirement } from './types.js';

/** One problem with a criteria document: where (a JSON pointer into it) and why, in plain words. */
export interface CriteriaProblem {
  pointer: string;
  reason: string;
}
export type CriteriaValidation = { ok: true; criteria: Criteria } | { ok: false; problems: CriteriaProblem[] };

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true, keywords: ['tsType'] });
    ajv.addFormat('date-time', fullFormats['date-time']);
    const schema = loadSchemas().find((candidate) => candidate.$id === CRITERIA_SCHEMA_ID);
    if (!schema) throw new Error(`no schema with $id ${CRITERIA_SCHEMA_ID}`);
    validator = ajv.compile(schema);
  }
  return validator;
}

/**
 * Validates a criteria document: the JSON Schema (criteria.schema.json), then what a schema
 * cannot say: unique ids, order and penalties naming existing event requirements, no order
 * cycles, counts that can be reached, dates and bounds that leave room.
 */
export function validateCriteria(doc: unknown): CriteriaValidation {
  const validate = schemaValidator();
  if (!validate(doc)) return { ok: false, problems: schemaProblems(validate.errors ?? []) };
  const criteria = doc as Criteria;
  const problems = semanticProblems(criteria);
  return problems.length ? { ok: false, problems } : { ok: true, criteria };
}

// oneOf alternatives (by the title of their schema) and the property that says which one a document means.
const ALTERNATIVES: Record<string, [title: string, key: string][]> = {
  Requirement: [
    ['EventRequirement', 'match'],
    ['AllRequirement', 'all'],
    ['AnyRequirement', 'any'],
    ['AtLeastRequirement', 'of'],
  ],
  Condition: [
    ['FieldCondition', 'field'],
    ['ScoreCondition', 'scoreRatio'],
  ],
};
const NO_ALTERNATIVE: Record<string, string> = {
  Requirement: 'a requirement needs "match" (an event requirement), "all", "any", or "atLeast" with "of"',
  Condition: 'a condition needs "field" (with equals, in, min, max, greaterThan or lessThan) or "scoreRatio"',
};

const titleOf = (error: ErrorObject): string | undefined => (error.parentSchema as { title?: string } | undefined)?.title;

/**
 * ajv reports, for a oneOf that fails, the errors of every alternative. Keep only those of the
 * alternative the document means (it has that alternative's key), or one plain sentence when it
 * means none of them.
 */
function schemaProblems(errors: ErrorObject[]): CriteriaProblem[] {
  let kept = errors;
  for (const error of errors) {
    const alternatives = error.keyword === 'oneOf' ? ALTERNATIVES[titleOf(error) ?? ''] : undefined;
    if (!alternatives) continue;
    const data = error.data;
    const chosen = data && typeof data === 'object' ? alternatives.find(([, key]) => key in data)?.[0] : undefined;
    const titles = new Set(alternatives.map(([title]) => title));
    kept = kept.filter((other) => {
      if (other === error) return !chosen;
      return !(other.instancePath === error.instancePath && titles.has(titleOf(other) ?? '') && titleOf(other) !== chosen);
    });
  }
  const problems = kept.map((error) => ({ pointer: error.instancePath, reason: phrase(error) }));
  return problems.filter((problem, i) => problems.findIndex((p) => p.pointer === problem.pointer && p.reason === problem.reason) === i);
}

const definitions = (): Record<string, { pattern?: string }> =>
  (loadSchemas().find((candidate) => candidate.$id === CRITERIA_SCHEMA_ID)?.$defs ?? {}) as Record<string, { pattern?: string }>;
const PATTERN_REASONS: Record<string, string> = {
  [definitions().Duration?.pattern ?? '']: 'must be an ISO 8601 duration such as P90D, P1Y, P6M or PT12H',
  [definitions().RequirementId?.pattern ?? '']: 'an id starts with a letter, then letters, digits, "_", "-" or "."',
  [definitions().FieldPath?.pattern ?? '']: 'must be a dotted field path such as generated.scoreGiven',
};

function phrase(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'oneOf':
      return NO_ALTERNATIVE[titleOf(error) ?? ''] ?? 'matches none of the allowed shapes';
    case 'required':
      return `"${String(params.missingProperty)}" is required`;
    case 'additionalProperties':
      return `unknown field "${String(params.additionalProperty)}"`;
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'format':
      return 'must be a date-time such as 2025-09-01T00:00:00Z';
    case 'pattern':
      return PATTERN_REASONS[String(params.pattern)] ?? `must match ${String(params.pattern)}`;
    case 'minProperties':
      return titleOf(error) === 'FieldCondition' ? 'a condition on a field needs a test: equals, in, min, max, greaterThan or lessThan' : 'must not be empty';
    case 'minItems':
      return `needs at least ${String(params.limit)} item(s)`;
    case 'maxItems':
    case 'items':
      return 'an order entry is a pair [A, B] of requirement ids';
    default:
      return error.message ?? 'is not valid';
  }
}

function semanticProblems(criteria: Criteria): CriteriaProblem[] {
  const problems: CriteriaProblem[] = [];
  const problem = (pointer: string, reason: string): void => void problems.push({ pointer, reason });
  const ids = new Map<string, string>();
  const eventRequirements = new Set<string>();
  const claim = (id: string | undefined, pointer: string): void => {
    if (id === undefined) return;
    const first = ids.get(id);
    if (first !== undefined) problem(`${pointer}/id`, `the id "${id}" is already used at ${first || '/'}`);
    else ids.set(id, pointer);
  };

  const visit = (node: Requirement, pointer: string): void => {
    claim(node.id, pointer);
    if ('match' in node) {
      eventRequirements.add(node.id);
      if (node.latestBy !== undefined && node.distinct !== undefined) problem(`${pointer}/distinct`, 'latestBy already counts distinct keys: remove distinct');
      const countsBy = node.latestBy ?? node.distinct;
      const listed = node.match.object?.id;
      if (countsBy === 'object.id' && Array.isArray(listed) && node.match.object?.idPrefix === undefined && (node.atLeast ?? 1) > new Set(listed).size) {
        problem(`${pointer}/atLeast`, `atLeast is ${node.atLeast} but only ${new Set(listed).size} objects are listed in match.object.id: it can never be met`);
      }
      checkDates(node, pointer, problem);
      (node.where ?? []).forEach((condition, i) => checkCondition(condition, `${pointer}/where/${i}`, problem));
      return;
    }
    const [key, children] = 'all' in node ? ['all', node.all] : 'any' in node ? ['any', node.any] : ['of', node.of];
    if ('of' in node && node.atLeast > node.of.length) problem(`${pointer}/atLeast`, `atLeast is ${node.atLeast} but only ${node.of.length} requirements are listed: it can never be met`);
    children.forEach((child, i) => visit(child, `${pointer}/${key}/${i}`));
  };
  visit(criteria.requirement, '/requirement');

  (criteria.penalties ?? []).forEach((penalty, i) => {
    claim(penalty.id, `/penalties/${i}`);
    (penalty.where ?? []).forEach((condition, j) => checkCondition(condition, `/penalties/${i}/where/${j}`, problem));
    penalty.unmeets.forEach((target, j) => {
      if (!eventRequirements.has(target)) problem(`/penalties/${i}/unmeets/${j}`, `no event requirement has the id "${target}"`);
    });
  });

  const follows = new Map<string, string[]>();
  (criteria.order ?? []).forEach(([first, then], i) => {
    if (!eventRequirements.has(first)) problem(`/order/${i}/0`, `no event requirement has the id "${first}"`);
    if (!eventRequirements.has(then)) problem(`/order/${i}/1`, `no event requirement has the id "${then}"`);
    if (first === then) problem(`/order/${i}`, `"${first}" cannot come before itself`);
    else follows.set(then, [...(follows.get(then) ?? []), first]);
  });
  const cycle = findCycle(follows);
  if (cycle) problem('/order', `the order is circular: ${cycle.join(' before ')}`);

  const held = new Set<string>();
  (criteria.prerequisites ?? []).forEach((prerequisite, i) => {
    if (prerequisite.badgeClass === criteria.badgeClass) problem(`/prerequisites/${i}/badgeClass`, 'a badge cannot be its own prerequisite');
    if (held.has(prerequisite.badgeClass)) problem(`/prerequisites/${i}/badgeClass`, `${prerequisite.badgeClass} is listed twice`);
    held.add(prerequisite.badgeClass);
  });

  checkDates(criteria, '', problem);
  for (const field of ['window', 'expiresAfter'] as const) {
    const duration = criteria[field] === undefined ? undefined : parseDuration(criteria[field]);
    if (duration && duration.years + duration.months + duration.days + duration.milliseconds === 0) problem(`/${field}`, 'must be longer than zero');
  }
  return problems;
}

function checkDates(node: { after?: string; before?: string }, pointer: string, problem: (pointer: string, reason: string) => void): void {
  if (node.after !== undefined && node.before !== undefined && Date.parse(node.after) >= Date.parse(node.before)) {
    problem(`${pointer}/before`, `before (${node.before}) must be later than after (${node.after})`);
  }
}

function checkCondition(condition: Condition, pointer: string, problem: (pointer: string, reason: string) => void): void {
  const bounds = 'scoreRatio' in condition ? condition.scoreRatio : condition;
  const low = Math.max(bounds.min ?? -Infinity, bounds.greaterThan ?? -Infinity);
  const high = Math.min(bounds.max ?? Infinity, bounds.lessThan ?? Infinity);
  if (low > high || (low === high && (bounds.greaterThan === low || bounds.lessThan === high))) problem(pointer, 'no value can satisfy these bounds');
}

function findCycle(follows: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id].reverse();
    state.set(id, 'visiting');
    path.push(id);
    for (const first of follows.get(id) ?? []) {
      const cycle = visit(first);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of follows.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
