import { entityId } from '@badgestream/caliper';
import { compileCriteria } from './compile.js';
import type { CaliperEventLike, Criteria, Fact, Hit } from './types.js';

/** Thrown for an event the engine cannot place in time: no id or no valid eventTime. Not retriable. */
export class UnusableEventError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = 'UnusableEventError';
  }
}

/**
 * Projects a Caliper event onto what these criteria need of it, or undefined when no requirement,
 * penalty or prerequisite of the criteria selects it (the event is irrelevant to them).
 */
export function toFact(criteria: Criteria, event: CaliperEventLike): Fact | undefined {
  const hits = hitsOf(criteria, event);
  if (hits.length === 0) return undefined;
  if (typeof event.id !== 'string' || event.id === '') throw new UnusableEventError('the event has no id');
  const at = typeof event.eventTime === 'string' ? Date.parse(event.eventTime) : NaN;
  if (Number.isNaN(at)) throw new UnusableEventError(`event ${event.id} has no valid eventTime`);
  const fact: Fact = { id: event.id, eventTime: event.eventTime as string, at, type: String(event.type), action: String(event.action), hits };
  const object = entityId(event.object);
  if (object !== undefined) fact.object = object;
  return fact;
}

/** Whether the criteria care about the event: toFact gives a fact for it. */
export function isRelevant(criteria: Criteria, event: CaliperEventLike): boolean {
  return hitsOf(criteria, event).length > 0;
}

function hitsOf(criteria: Criteria, event: CaliperEventLike): Hit[] {
  const hits: Hit[] = [];
  for (const leaf of compileCriteria(criteria).byId.values()) {
    if (!leaf.selects(event)) continue;
    const hit: Hit = { requirement: leaf.id, passes: leaf.passes(event) };
    if (leaf.keyOf) {
      const key = leaf.keyOf(event);
      // An event without the key cannot be told apart from others: it counts for nothing.
      if (key === undefined) continue;
      hit.key = key;
    }
    hits.push(hit);
  }
  return hits;
}

/** The one order of facts: by eventTime, then by event id. */
export function compareFacts(a: Pick<Fact, 'at' | 'id'>, b: Pick<Fact, 'at' | 'id'>): number {
  return a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Facts sorted and without repeated ids, from any collection. */
export function sortFacts(facts: Iterable<Fact>): Fact[] {
  const byId = new Map<string, Fact>();
  for (const fact of facts) if (!byId.has(fact.id)) byId.set(fact.id, fact);
  return [...byId.values()].sort(compareFacts);
}
