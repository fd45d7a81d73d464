import { addDuration } from './duration.js';
import { compileCriteria, type CompiledCriteria } from './compile.js';
import { evaluateFacts, type Evaluation, type Provenance } from './evaluate.js';
import { compareFacts, sortFacts, toFact } from './facts.js';
import { derivedId } from './uuid.js';
import type { CaliperEventLike, Criteria, Fact } from './types.js';

export interface EngineContext {
  tenant: string;
  learner: string;
  /** The current instant (ISO 8601), for expiry only: every other decision uses eventTime. */
  now: string;
}

/** How an award ended, in the award timeline. */
export interface AwardEnd {
  how: 'revoked' | 'expired';
  /** eventTime of the event that broke the criteria, or the expiry instant. */
  at: string;
  /** The revocation or expiry id. */
  id: string;
  reason: string;
  /** The events that broke the criteria (none for an expiry). */
  brokenBy: string[];
  /** The requirements no longer met (none for an expiry). */
  unmet: string[];
}

/** One award in the award timeline: granted when the criteria became met, perhaps ended since. */
export interface AwardRecord {
  awardId: string;
  /** The event whose arrival in eventTime order completed the criteria. */
  cause: string;
  awardedAt: string;
  expiresAt?: string;
  provenance: Provenance;
  ended?: AwardEnd;
}

interface EffectBase {
  /** A deterministic id for the emitted event (UUID v5 of its cause), so that emitting it twice is harmless. */
  id: string;
  tenant: string;
  learner: string;
  badgeClass: string;
  criteriaVersion: number;
  awardId: string;
  /** The event (or expiry check) whose processing produced this effect. */
  causedBy: string;
}
export type AwardEffect = EffectBase & { kind: 'award'; awardedAt: string; expiresAt?: string; provenance: Provenance };
export type RevokeEffect = EffectBase & { kind: 'revoke'; revokedAt: string; reason: string; brokenBy: string[]; unmet: string[]; awardProvenance: Provenance };
export type ExpireEffect = EffectBase & { kind: 'expire'; expiredAt: string };
/** What the shell must do: award, revoke, or mark expired. */
export type Effect = AwardEffect | RevokeEffect | ExpireEffect;

/**
 * A learner's progress towards one badge class under one criteria version. Everything but
 * `history` is a function of the set of the learner's events (and of `now`, for expiry).
 */
export interface LearnerProgress {
  tenant: string;
  learner: string;
  badgeClass: string;
  criteriaVersion: number;
  /** The relevant events, sorted by eventTime then id. */
  facts: Fact[];
  /** Whether the criteria are met over all the facts. */
  met: boolean;
  /** The award timeline: the awards the facts earn when replayed in eventTime order. */
  awards: AwardRecord[];
  /** The award the learner holds now (the timeline's last, unless it ended or expired), or null. */
  award: AwardRecord | null;
  /** The effects emitted so far, in emission order: an audit log, which depends on arrival order. */
  history: Effect[];
}

export function emptyProgress(criteria: Criteria, ctx: Pick<EngineContext, 'tenant' | 'learner'>): LearnerProgress {
  return { tenant: ctx.tenant, learner: ctx.learner, badgeClass: criteria.badgeClass, criteriaVersion: criteria.version, facts: [], met: false, awards: [], award: null, history: [] };
}

/**
 * Progression and regression in one step: adds the event to the learner's progress and returns
 * the new progress and what to emit. An event already among the facts (by id), or one the
 * criteria do not care about, changes nothing and emits nothing.
 */
export function applyEvent(
  progress: LearnerProgress | undefined,
  event: CaliperEventLike,
  criteria: Criteria,
  ctx: EngineContext,
): { progress: LearnerProgress; effects: Effect[] } {
  const current = progress ?? emptyProgress(criteria, ctx);
  if (current.badgeClass !== criteria.badgeClass || current.criteriaVersion !== criteria.version) {
    throw new Error(`progress for ${current.badgeClass} v${current.criteriaVersion} cannot take criteria ${criteria.badgeClass} v${criteria.version}`);
  }
  const fact = toFact(criteria, event);
  if (!fact || current.facts.some((known) => known.id === fact.id)) return { progress: current, effects: [] };
  const compiled = compileCriteria(criteria);

  const position = insertionPoint(current.facts, fact);
  const facts = [...current.facts.slice(0, position), fact, ...current.facts.slice(position)];
  let timeline: Timeline;
  if (position === current.facts.length) {
    // The usual case, an event later than all others: one more step of the timeline.
    timeline = { met: current.met, awards: [...current.awards] };
    stepTimeline(compiled, current, timeline, fact, evaluateFacts(compiled, facts));
  } else {
    // A late event: replay the timeline from the start, in eventTime order.
    timeline = replayTimeline(compiled, current, facts);
  }
  return settle(current, facts, timeline, ctx.now, fact.id);
}

/** Expires an award whose time is up; for a periodic check, since no event may come. */
export function checkExpiry(progress: LearnerProgress, now: string): { progress: LearnerProgress; effects: Effect[] } {
  return settle(progress, progress.facts, { met: progress.met, awards: progress.awards }, now, `expiry-check:${now}`);
}

/** The progress a set of facts gives, built in one replay: what folding applyEvent over them gives, history aside. */
export function progressFromFacts(criteria: Criteria, facts: Fact[], ctx: EngineContext): LearnerProgress {
  const compiled = compileCriteria(criteria);
  const base = emptyProgress(criteria, ctx);
  const sorted = sortFacts(facts);
  const timeline = replayTimeline(compiled, base, sorted);
  return { ...base, facts: sorted, met: timeline.met, awards: timeline.awards, award: heldAward(timeline.awards, Date.parse(ctx.now)) };
}

interface Timeline {
  met: boolean;
  awards: AwardRecord[];
}

type Identity = Pick<LearnerProgress, 'tenant' | 'learner' | 'badgeClass' | 'criteriaVersion'>;

function replayTimeline(compiled: CompiledCriteria, identity: Identity, facts: readonly Fact[]): Timeline {
  const timeline: Timeline = { met: false, awards: [] };
  for (let i = 0; i < facts.length; i++) stepTimeline(compiled, identity, timeline, facts[i]!, evaluateFacts(compiled, facts.slice(0, i + 1)));
  return timeline;
}

/**
 * One step of the award timeline, at `fact`, given the evaluation of every fact up to it:
 * an award past its expiry ends; an award whose criteria stop being met is revoked (policy
 * revoke); criteria met with no award held grant one (the first, or again if allowed).
 */
function stepTimeline(compiled: CompiledCriteria, identity: Identity, timeline: Timeline, fact: Fact, evaluation: Evaluation): void {
  const { awards } = timeline;
  let last = awards.at(-1);
  if (last && !last.ended && last.expiresAt !== undefined && Date.parse(last.expiresAt) <= fact.at) {
    last = endAward(awards, { how: 'expired', at: last.expiresAt, id: derivedId(last.awardId, 'expired'), reason: `expired ${last.expiresAt}`, brokenBy: [], unmet: [] });
  }
  const held = last && !last.ended ? last : undefined;
  if (held && !evaluation.met && compiled.whenUnmet === 'revoke') {
    const unmet = unmetRequirements(evaluation, held.provenance);
    endAward(awards, {
      how: 'revoked',
      at: fact.eventTime,
      id: derivedId(held.awardId, 'revoked', fact.id),
      reason: revocationReason(compiled, evaluation, unmet, fact),
      brokenBy: [fact.id],
      unmet,
    });
  } else if (!held && evaluation.met && (awards.length === 0 || compiled.awardAgain)) {
    const award: AwardRecord = {
      // Not the criteria version: a new version that gives the award for the same event gives the
      // same award, so activating it changes nothing for that learner (see succeed).
      awardId: derivedId('award', identity.tenant, identity.learner, identity.badgeClass, fact.id),
      cause: fact.id,
      awardedAt: fact.eventTime,
      provenance: evaluation.provenance!,
    };
    if (compiled.expiresAfter) award.expiresAt = new Date(addDuration(fact.at, compiled.expiresAfter)).toISOString();
    awards.push(award);
  }
  timeline.met = evaluation.met;
}

function endAward(awards: AwardRecord[], ended: AwardEnd): AwardRecord {
  const ending = { ...awards.at(-1)!, ended };
  awards[awards.length - 1] = ending;
  return ending;
}

function unmetRequirements(evaluation: Evaluation, provenance: Provenance): string[] {
  const earnedWith = new Set(provenance.requirements.map((r) => r.requirement));
  // Requirements merely waiting for another (order) are not the cause: the other one is.
  const unmet = evaluation.requirements.filter((r) => !r.met && r.waitingFor.length === 0);
  const broken = unmet.filter((r) => earnedWith.has(r.id));
  return (broken.length ? broken : unmet).map((r) => r.id);
}

function revocationReason(compiled: CompiledCriteria, evaluation: Evaluation, unmet: string[], fact: Fact): string {
  if (unmet.length === 0 && evaluation.windowMissed) return `the requirements are no longer met within ${compiled.criteria.window} after event ${fact.id}`;
  const names = unmet.map((id) => {
    const description = compiled.byId.get(id)?.description;
    return description ? `${id} (${description})` : id;
  });
  return `no longer met after event ${fact.id} (${fact.type} ${fact.action}): ${names.join(', ')}`;
}

function heldAward(awards: AwardRecord[], now: number): AwardRecord | null {
  const last = awards.at(-1);
  if (!last || last.ended) return null;
  if (last.expiresAt !== undefined && Date.parse(last.expiresAt) <= now) return null;
  return last;
}

function insertionPoint(facts: readonly Fact[], fact: Fact): number {
  let low = 0;
  let high = facts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareFacts(facts[middle]!, fact) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Brings the emitted state in line with the timeline: when the award held now differs from the
 * one held before, the old one is revoked (or expired) and the new one awarded, in that order,
 * so a learner never holds two awards of one badge class.
 */
function settle(current: LearnerProgress, facts: Fact[], timeline: Timeline, now: string, causedBy: string) {
  const award = heldAward(timeline.awards, Date.parse(now));
  const effects: Effect[] = [];
  const before = current.award;
  const base = { tenant: current.tenant, learner: current.learner, badgeClass: current.badgeClass, criteriaVersion: current.criteriaVersion, causedBy };
  const history = current.history;
  if (before && before.awardId !== award?.awardId) {
    const record = timeline.awards.find((a) => a.awardId === before.awardId);
    const expired = record && !record.ended ? record.expiresAt : record?.ended?.how === 'expired' ? record.ended.at : undefined;
    if (record?.ended?.how === 'revoked') {
      const { ended } = record;
      effects.push({
        ...base,
        kind: 'revoke',
        id: effectId(history, 'revoke', before.awardId),
        awardId: before.awardId,
        revokedAt: ended.at,
        reason: ended.reason,
        brokenBy: ended.brokenBy,
        unmet: ended.unmet,
        awardProvenance: before.provenance,
      });
    } else if (expired !== undefined) {
      effects.push({ ...base, kind: 'expire', id: effectId(history, 'expire', before.awardId), awardId: before.awardId, expiredAt: expired });
    } else {
      // A late event rewrote the timeline: this award was not earned the way it was recorded.
      effects.push({
        ...base,
        kind: 'revoke',
        id: effectId(history, 'revoke', before.awardId),
        awardId: before.awardId,
        revokedAt: now,
        reason: `withdrawn: event ${causedBy}, which arrived late, shows that the criteria were not met as recorded at ${before.awardedAt}`,
        brokenBy: [causedBy],
        unmet: [],
        awardProvenance: before.provenance,
      });
    }
  }
  if (award && award.awardId !== before?.awardId) effects.push(awardEffect(base, history, award));
  const progress: LearnerProgress = { ...current, facts, met: timeline.met, awards: timeline.awards, award, history: effects.length ? [...history, ...effects] : history };
  return { progress, effects };
}

/**
 * A criteria version takes over from the learner's progress under an earlier version of the badge
 * class (its activation): the learner ends up holding the award `next` gives, computed from every
 * event of theirs. An award held under the earlier version that the new one gives too (same learner,
 * same completing event, so the same award id) stays as it is, with no effect; one it does not give
 * is revoked, whatever the policy for unmet criteria, and the new version's award, if any, is
 * granted. The effects emitted under the earlier version carry over, so every id stays unique.
 * Returns the new progress, the earlier one without its award, and the effects.
 */
export function succeed(
  previous: LearnerProgress | undefined,
  next: LearnerProgress,
  now: string,
): { progress: LearnerProgress; previous?: LearnerProgress; effects: Effect[] } {
  const history = previous?.history ?? [];
  const before = previous?.award ?? null;
  const award = next.award;
  const effects: Effect[] = [];
  const base = { tenant: next.tenant, learner: next.learner, badgeClass: next.badgeClass, criteriaVersion: next.criteriaVersion, causedBy: `criteria-version:${next.criteriaVersion}` };
  if (before && before.awardId !== award?.awardId) {
    effects.push({
      ...base,
      kind: 'revoke',
      id: effectId(history, 'revoke', before.awardId),
      awardId: before.awardId,
      revokedAt: now,
      reason: award
        ? `replaced: version ${next.criteriaVersion} of the criteria gives award ${award.awardId} (completed by event ${award.cause}) instead of this one, granted under version ${previous!.criteriaVersion}`
        : `version ${next.criteriaVersion} of the criteria, activated at ${now}, is not met by the learner's events; this award was granted under version ${previous!.criteriaVersion}`,
      brokenBy: [],
      unmet: [],
      awardProvenance: before.provenance,
    });
  }
  if (award && award.awardId !== before?.awardId) effects.push(awardEffect(base, [...history, ...effects], award));
  const progress: LearnerProgress = { ...next, history: [...history, ...effects] };
  return previous ? { progress, previous: { ...previous, award: null }, effects } : { progress, effects };
}

/** The effect granting `award`, numbered after the effects in `history`. */
function awardEffect(base: Omit<EffectBase, 'id' | 'awardId'>, history: readonly Effect[], award: AwardRecord): AwardEffect {
  const effect: AwardEffect = { ...base, kind: 'award', id: effectId(history, 'award', award.awardId), awardId: award.awardId, awardedAt: award.awardedAt, provenance: award.provenance };
  if (award.expiresAt !== undefined) effect.expiresAt = award.expiresAt;
  return effect;
}

/**
 * The effect's id: the n-th grant of an award, or the n-th end of it (revoked or expired, for
 * whatever reason), counted in the effects emitted so far. The first grant's id is the award id.
 * It depends on nothing else, so two consumers that reach the same transition by different
 * paths (one applying events one by one, another taking over after a crash and settling against
 * what was announced) emit it under one id, and the outbox keeps it once.
 */
function effectId(history: readonly Effect[], kind: Effect['kind'], awardId: string): string {
  const grant = kind === 'award';
  const times = history.filter((effect) => effect.awardId === awardId && (effect.kind === 'award') === grant).length;
  return grant ? (times === 0 ? awardId : derivedId(awardId, 'granted', times)) : derivedId(awardId, 'ended', times);
}
