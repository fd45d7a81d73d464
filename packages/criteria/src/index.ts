export type { CaliperEventLike, Condition, Criteria, EntityMatch, EventMatch, EventRequirement, Fact, Hit, Penalty, Prerequisite, Requirement } from './types.js';
export { parseDuration, addDuration, type Duration } from './duration.js';
export { uuidV5, CRITERIA_NAMESPACE } from './uuid.js';
export { toFact, isRelevant, compareFacts, sortFacts, UnusableEventError } from './facts.js';
export { evaluate, type Evaluation, type Provenance, type RequirementOutcome } from './evaluate.js';
export {
  applyEvent,
  checkExpiry,
  emptyProgress,
  progressFromFacts,
  succeed,
  type AwardEffect,
  type AwardEnd,
  type AwardRecord,
  type Effect,
  type EngineContext,
  type ExpireEffect,
  type LearnerProgress,
  type RevokeEffect,
} from './progress.js';
export { evaluateHistory, type LearnerOutcome } from './history.js';
export { progressReport, type ProgressReport, type RequirementReport } from './report.js';
export { validateCriteria, type CriteriaProblem, type CriteriaValidation } from './validate.js';
