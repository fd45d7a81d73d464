import { compileCriteria } from './compile.js';
import { evaluateFacts, type RequirementOutcome } from './evaluate.js';
import type { LearnerProgress } from './progress.js';
import type { Criteria } from './types.js';

export interface RequirementReport {
  id: string;
  kind: 'requirement' | 'prerequisite';
  description?: string;
  met: boolean;
  done: number;
  needed: number;
  /** e.g. "2 of 3 done, 1 to go", "met on 2025-03-01T10:00:00Z", "waiting for enrolled". */
  summary: string;
  events: string[];
}

export interface ProgressReport {
  badgeClass: string;
  name?: string;
  criteriaVersion: number;
  learner: string;
  met: boolean;
  award: { awardId: string; awardedAt: string; expiresAt?: string } | null;
  requirements: RequirementReport[];
  /** Plain sentences: overall status, window, and anything else a learner or administrator should know. */
  notes: string[];
}

/** A learner's progress towards a badge, requirement by requirement, in plain words ("GET learner progress"). */
export function progressReport(criteria: Criteria, progress: LearnerProgress): ProgressReport {
  const evaluation = evaluateFacts(compileCriteria(criteria), progress.facts);
  const requirements = evaluation.requirements.map(requirementReport);
  const remaining = requirements.filter((r) => !r.met);
  const notes: string[] = [];
  if (progress.award) notes.push(`Awarded on ${progress.award.awardedAt}${progress.award.expiresAt ? `, expires ${progress.award.expiresAt}` : ''}.`);
  else if (evaluation.met) notes.push('The criteria are met.');
  if (evaluation.met) notes.push(`All requirements met (the last on ${evaluation.metAt}).`);
  else notes.push(`${requirements.length - remaining.length} of ${requirements.length} requirements met; remaining: ${remaining.map((r) => r.id).join(', ') || 'none'}.`);
  if (criteria.window) {
    if (evaluation.window) notes.push(`Everything counted falls within ${criteria.window}: ${evaluation.window.from} to ${evaluation.window.until}.`);
    else if (evaluation.windowMissed) notes.push(`The requirements are met, but not all within ${criteria.window} of each other.`);
    else notes.push(`Everything must be done within ${criteria.window} of the first event that counts.`);
  }
  const report: ProgressReport = {
    badgeClass: criteria.badgeClass,
    criteriaVersion: criteria.version,
    learner: progress.learner,
    met: evaluation.met,
    award: progress.award
      ? { awardId: progress.award.awardId, awardedAt: progress.award.awardedAt, ...(progress.award.expiresAt ? { expiresAt: progress.award.expiresAt } : {}) }
      : null,
    requirements,
    notes,
  };
  if (criteria.name !== undefined) report.name = criteria.name;
  return report;
}

function requirementReport(outcome: RequirementOutcome): RequirementReport {
  const report: RequirementReport = {
    id: outcome.id,
    kind: outcome.kind,
    met: outcome.met,
    done: Math.min(outcome.count, outcome.needed),
    needed: outcome.needed,
    summary: summary(outcome),
    events: outcome.events,
  };
  if (outcome.description !== undefined) report.description = outcome.description;
  return report;
}

function summary(outcome: RequirementOutcome): string {
  const voided = outcome.voidedBy.length ? ` (events before penalty ${outcome.voidedBy.join(', ')} no longer count)` : '';
  if (outcome.waitingFor.length) return `waiting for ${outcome.waitingFor.join(', ')} to be met first${voided}`;
  if (outcome.kind === 'prerequisite') return (outcome.met ? `badge held since ${outcome.metAt}` : 'badge not held') + voided;
  if (outcome.met) return `met on ${outcome.metAt} (${outcome.needed} of ${outcome.needed})${voided}`;
  return `${outcome.count} of ${outcome.needed} done, ${outcome.needed - outcome.count} to go${voided}`;
}
