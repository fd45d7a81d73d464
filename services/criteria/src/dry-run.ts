import { evaluateHistory, type AwardRecord, type LearnerProgress } from '@badgestream/criteria';
import { NotFoundError, type MongoCriteriaDefinitions, type MongoEventHistory, type MongoLearnerProgress } from '@badgestream/platform';

export interface DryRunDeps {
  definitions: MongoCriteriaDefinitions;
  history: MongoEventHistory;
  progress: MongoLearnerProgress;
}

interface HeldAward {
  awardId: string;
  criteriaVersion: number;
  awardedAt: string;
}

/** What activating a criteria version would do, computed from the event history, changing nothing. */
export interface DryRunResult {
  tenant: string;
  badgeClass: string;
  version: number;
  evaluatedAt: string;
  /** Events of the tenant in the history; those without an id or a valid eventTime are skipped. */
  events: number;
  skipped: number;
  /** Learners with an outcome: some event of theirs matters to the criteria, or they hold an award. */
  learners: number;
  met: number;
  /** Learners who hold no award of the badge class and would be awarded. */
  wouldAward: { learner: string; awardId: string; awardedAt: string; provenance: AwardRecord['provenance'] }[];
  /** Learners who hold an award of the badge class that these criteria would not give. */
  wouldRevoke: { learner: string; held: HeldAward }[];
  /** Learners who hold an award that these criteria would give differently (another version, or another cause). */
  wouldReplace: { learner: string; held: HeldAward; awardId: string; awardedAt: string }[];
  /** Learners whose award (or lack of one) stays as it is. */
  unchanged: number;
}

/**
 * A dry run of a criteria version over the event history (MongoEventHistory): per learner, the
 * outcome the pure engine gives over every stored event, compared with the award the learner holds
 * now under any version of the badge class. Nothing is written.
 */
export async function dryRunCriteria(deps: DryRunDeps, tenant: string, badgeClass: string, version: number, now = new Date().toISOString()): Promise<DryRunResult> {
  const definition = await deps.definitions.get(tenant, badgeClass, version);
  if (!definition) throw new NotFoundError(`criteria ${badgeClass} version ${version} of tenant ${tenant} do not exist; store them first (PUT /admin/criteria or badgestream criteria put)`);
  const events: Record<string, unknown>[] = [];
  let total = 0;
  for await (const { event } of deps.history.eventsOf(tenant)) {
    total++;
    if (typeof event.id === 'string' && event.id !== '' && typeof event.eventTime === 'string' && !Number.isNaN(Date.parse(event.eventTime))) events.push(event);
  }
  const held = new Map<string, LearnerProgress>();
  for (const progress of await deps.progress.forBadgeClass(tenant, badgeClass)) if (progress.award) held.set(progress.learner, progress);

  const result: DryRunResult = { tenant, badgeClass, version, evaluatedAt: now, events: total, skipped: total - events.length, learners: 0, met: 0, wouldAward: [], wouldRevoke: [], wouldReplace: [], unchanged: 0 };
  for (const [learner, outcome] of evaluateHistory(definition.criteria, events, { tenant, now }, held)) {
    result.learners++;
    if (outcome.met) result.met++;
    const before = held.get(learner);
    const heldAward = before?.award ? { awardId: before.award.awardId, criteriaVersion: before.criteriaVersion, awardedAt: before.award.awardedAt } : undefined;
    const award = outcome.award;
    if (outcome.change === 'award' && award) result.wouldAward.push({ learner, awardId: award.awardId, awardedAt: award.awardedAt, provenance: award.provenance });
    else if (outcome.change === 'revoke' && heldAward) result.wouldRevoke.push({ learner, held: heldAward });
    else if (outcome.change === 'replace' && heldAward && award) result.wouldReplace.push({ learner, held: heldAward, awardId: award.awardId, awardedAt: award.awardedAt });
    else result.unchanged++;
  }
  return result;
}
