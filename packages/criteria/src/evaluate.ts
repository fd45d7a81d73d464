import { addDuration } from './duration.js';
import { compileCriteria, type CompiledCriteria, type CompiledLeaf, type CompiledNode } from './compile.js';
import { compareFacts } from './facts.js';
import type { Criteria, Fact } from './types.js';

/** Which events satisfied which requirement, under which criteria version. */
export interface Provenance {
  criteriaVersion: number;
  requirements: { requirement: string; description?: string; events: string[] }[];
}

/** How far one event requirement (or prerequisite) is. */
export interface RequirementOutcome {
  id: string;
  kind: 'requirement' | 'prerequisite';
  description?: string;
  met: boolean;
  /** When it became met: the eventTime of the event that completed it. */
  metAt?: string;
  /** Events (or distinct values, or keys) that count now, and how many are needed. */
  count: number;
  needed: number;
  /** The events that met it (the earliest `needed`), or all that count so far. */
  events: string[];
  /** Order: requirements that must be met first and are not yet. */
  waitingFor: string[];
  /** Penalty events that voided what counted before them. */
  voidedBy: string[];
}

export interface Evaluation {
  met: boolean;
  metAt?: string;
  /** Event requirements in document order, then prerequisites. */
  requirements: RequirementOutcome[];
  /** With a window: the window that holds every counted event, when one does. */
  window?: { from: string; until: string };
  /** With a window: the requirements are met but never all within one window. */
  windowMissed: boolean;
  /** When met: the requirements that satisfied the criteria and their events. */
  provenance?: Provenance;
}

interface Contribution {
  fact: Fact;
  key?: string;
  passes: boolean;
}

interface LeafResult {
  leaf: CompiledLeaf;
  met: boolean;
  metAt: number;
  metAtText?: string;
  count: number;
  events: string[];
  waitingFor: string[];
}

interface NodeResult {
  met: boolean;
  metAt: number;
  leaves: string[];
}

/** Evaluates criteria over a learner's facts (any order; repeated ids are ignored by callers that sort). */
export function evaluate(criteria: Criteria, facts: readonly Fact[]): Evaluation {
  return evaluateFacts(compileCriteria(criteria), [...facts].sort(compareFacts));
}

/** Evaluates over facts already sorted by compareFacts, without repeated ids. */
export function evaluateFacts(compiled: CompiledCriteria, facts: readonly Fact[]): Evaluation {
  const { contributions, voidedBy } = countableEvents(compiled, facts);
  const prerequisites = compiled.prerequisites.map((leaf) => countLeaf(leaf, contributions.get(leaf.id) ?? [], -Infinity, -Infinity, Infinity, []));

  let chosen = evaluateWithin(compiled, contributions, -Infinity, Infinity);
  let window: Evaluation['window'];
  let windowMissed = false;
  if (compiled.window && chosen.root.met) {
    const duration = compiled.window;
    // Restricting events can only unmeet, so a window can only be met when everything is met without one.
    const starts = [...new Set(compiled.requirements.flatMap((leaf) => (contributions.get(leaf.id) ?? []).map((c) => c.fact.at)))].sort((a, b) => a - b);
    let found: ReturnType<typeof evaluateWithin> | undefined;
    for (const start of starts) {
      const until = addDuration(start, duration);
      const attempt = evaluateWithin(compiled, contributions, start, until);
      if (attempt.root.met) {
        found = attempt;
        window = { from: new Date(start).toISOString(), until: new Date(until).toISOString() };
        break;
      }
    }
    if (found) chosen = found;
    else windowMissed = true;
  }

  const met = chosen.root.met && !windowMissed && prerequisites.every((p) => p.met);
  const requirements = [...compiled.requirements.map((leaf) => chosen.leaves.get(leaf.id)!), ...prerequisites].map((result) =>
    toOutcome(result, voidedBy.get(result.leaf.id) ?? []),
  );
  const evaluation: Evaluation = { met, requirements, windowMissed };
  if (window) evaluation.window = window;
  if (met) {
    const completing = [chosen.root.metAt, ...prerequisites.map((p) => p.metAt)].reduce((a, b) => Math.max(a, b));
    evaluation.metAt = [...chosen.leaves.values(), ...prerequisites].find((r) => r.metAt === completing)?.metAtText;
    const contributing = new Set([...chosen.root.leaves, ...prerequisites.map((p) => p.leaf.id)]);
    evaluation.provenance = {
      criteriaVersion: compiled.criteria.version,
      requirements: requirements
        .filter((r) => contributing.has(r.id))
        .map((r) => (r.description === undefined ? { requirement: r.id, events: r.events } : { requirement: r.id, description: r.description, events: r.events })),
    };
  }
  return evaluation;
}

function toOutcome(result: LeafResult, voidedBy: string[]): RequirementOutcome {
  const outcome: RequirementOutcome = {
    id: result.leaf.id,
    kind: result.leaf.kind === 'prerequisite' ? 'prerequisite' : 'requirement',
    met: result.met,
    count: result.count,
    needed: result.leaf.atLeast,
    events: result.events,
    waitingFor: result.waitingFor,
    voidedBy,
  };
  if (result.leaf.description !== undefined) outcome.description = result.leaf.description;
  if (result.metAtText !== undefined) outcome.metAt = result.metAtText;
  return outcome;
}

/**
 * For each requirement and prerequisite, the events that can count, sorted: selected, the latest
 * per key for latestBy, passing the conditions, inside the requirement's dates, and not voided
 * by a penalty. Windows and order are applied later, per evaluation.
 */
function countableEvents(compiled: CompiledCriteria, facts: readonly Fact[]) {
  const selected = new Map<string, Contribution[]>();
  const penaltyEvents = new Map<string, { at: number; ids: string[] }>();
  for (const fact of facts) {
    for (const hit of fact.hits) {
      const leaf = compiled.byId.get(hit.requirement);
      if (!leaf) continue;
      if (leaf.kind === 'penalty') {
        if (!hit.passes) continue;
        const seen = penaltyEvents.get(leaf.id);
        if (seen) {
          seen.at = Math.max(seen.at, fact.at);
          seen.ids.push(fact.id);
        } else penaltyEvents.set(leaf.id, { at: fact.at, ids: [fact.id] });
        continue;
      }
      if (!leaf.latest && !hit.passes) continue;
      let list = selected.get(leaf.id);
      if (!list) selected.set(leaf.id, (list = []));
      list.push({ fact, key: hit.key, passes: hit.passes });
    }
  }
  const contributions = new Map<string, Contribution[]>();
  const voidedBy = new Map<string, string[]>();
  for (const leaf of [...compiled.requirements, ...compiled.prerequisites]) {
    let list = selected.get(leaf.id) ?? [];
    if (leaf.latest) {
      // Facts come sorted, so the last one seen per key is the latest (ties: the greater id).
      const latest = new Map<string, Contribution>();
      for (const contribution of list) latest.set(contribution.key!, contribution);
      list = [...latest.values()].filter((c) => c.passes).sort((a, b) => compareFacts(a.fact, b.fact));
    }
    let voidUntil = -Infinity;
    const voiding: string[] = [];
    if (leaf.penalties.length) voidedBy.set(leaf.id, voiding);
    for (const penalty of leaf.penalties) {
      const seen = penaltyEvents.get(penalty);
      if (!seen) continue;
      voidUntil = Math.max(voidUntil, seen.at);
      voiding.push(...seen.ids);
    }
    const bounded = leaf.after !== -Infinity || leaf.before !== Infinity || voidUntil !== -Infinity;
    contributions.set(leaf.id, bounded ? list.filter((c) => c.fact.at >= leaf.after && c.fact.at < leaf.before && c.fact.at > voidUntil) : list);
  }
  return { contributions, voidedBy };
}

function evaluateWithin(compiled: CompiledCriteria, contributions: Map<string, Contribution[]>, from: number, until: number) {
  const leaves = new Map<string, LeafResult>();
  for (const leaf of compiled.requirementsInOrder) {
    // Order: this requirement counts only events strictly after all it follows became met.
    let after = -Infinity;
    const waitingFor: string[] = [];
    for (const first of leaf.follows) {
      const result = leaves.get(first);
      if (!result?.met) waitingFor.push(first);
      else after = Math.max(after, result.metAt);
    }
    const result = waitingFor.length
      ? { leaf, met: false, metAt: Infinity, count: 0, events: [], waitingFor }
      : countLeaf(leaf, contributions.get(leaf.id) ?? [], after, from, until, []);
    leaves.set(leaf.id, result);
  }
  return { leaves, root: combine(compiled.tree, leaves) };
}

function countLeaf(leaf: CompiledLeaf, contributions: Contribution[], after: number, from: number, until: number, waitingFor: string[]): LeafResult {
  const seen = leaf.distinct ? new Set<string>() : undefined;
  const events: string[] = [];
  let count = 0;
  let metAt = Infinity;
  let metAtText: string | undefined;
  for (const { fact, key } of contributions) {
    if (fact.at <= after || fact.at < from || fact.at > until) continue;
    if (seen) {
      if (seen.has(key!)) continue;
      seen.add(key!);
    }
    count++;
    if (count <= leaf.atLeast) events.push(fact.id);
    if (count === leaf.atLeast) {
      metAt = fact.at;
      metAtText = fact.eventTime;
    }
  }
  return { leaf, met: count >= leaf.atLeast, metAt, metAtText, count, events, waitingFor };
}

function combine(node: CompiledNode, leaves: Map<string, LeafResult>): NodeResult {
  if (node.kind === 'leaf') {
    const result = leaves.get(node.id)!;
    return { met: result.met, metAt: result.metAt, leaves: result.met ? [node.id] : [] };
  }
  const children = node.children.map((child) => combine(child, leaves));
  const needed = node.kind === 'all' ? children.length : node.kind === 'atLeast' ? node.atLeast : 1;
  const met = children.filter((c) => c.met);
  if (met.length < needed) return { met: false, metAt: Infinity, leaves: [] };
  // The earliest met children win; ties go to the one listed first (the sort is stable).
  const earliest = met.length === needed ? met : met.sort((a, b) => a.metAt - b.metAt).slice(0, needed);
  let metAt = -Infinity;
  for (const child of earliest) metAt = Math.max(metAt, child.metAt);
  return { met: true, metAt, leaves: earliest.flatMap((c) => c.leaves) };
}
