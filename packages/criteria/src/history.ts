import { resolveLearner } from '@badgestream/caliper';
import { sortFacts, toFact } from './facts.js';
import { emptyProgress, progressFromFacts, type AwardRecord, type LearnerProgress } from './progress.js';
import type { CaliperEventLike, Criteria, Fact } from './types.js';

/** What criteria give one learner over a history of events: for backfill and dry runs. */
export interface LearnerOutcome {
  learner: string;
  progress: LearnerProgress;
  met: boolean;
  /** The award the learner would hold now, or null. */
  award: AwardRecord | null;
  /** Compared with the learner's current progress under these criteria (none: no award yet). */
  change: 'award' | 'revoke' | 'replace' | 'none';
}

/**
 * Evaluates criteria over a history of events (any order, duplicates allowed) for every learner
 * in it, as folding applyEvent over the same events would, without emitting anything. With the
 * learners' current progress, says who would be awarded or revoked on activation.
 */
export function evaluateHistory(
  criteria: Criteria,
  events: Iterable<CaliperEventLike>,
  ctx: { tenant: string; now: string },
  current: ReadonlyMap<string, LearnerProgress> = new Map(),
): Map<string, LearnerOutcome> {
  const factsByLearner = new Map<string, Fact[]>();
  for (const event of events) {
    const fact = toFact(criteria, event);
    if (!fact) continue;
    const learner = resolveLearner(event);
    let facts = factsByLearner.get(learner);
    if (!facts) factsByLearner.set(learner, (facts = []));
    facts.push(fact);
  }
  const outcomes = new Map<string, LearnerOutcome>();
  for (const learner of [...new Set([...factsByLearner.keys(), ...current.keys()])].sort()) {
    const facts = sortFacts(factsByLearner.get(learner) ?? []);
    const progress = facts.length ? progressFromFacts(criteria, facts, { ...ctx, learner }) : emptyProgress(criteria, { ...ctx, learner });
    const held = current.get(learner)?.award ?? null;
    const award = progress.award;
    const change = held?.awardId === award?.awardId ? 'none' : !held ? 'award' : !award ? 'revoke' : 'replace';
    outcomes.set(learner, { learner, progress, met: progress.met, award, change });
  }
  return outcomes;
}
