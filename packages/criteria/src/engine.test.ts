import { describe, expect, it } from 'vitest';
import { applyEvent, checkExpiry, progressFromFacts, succeed, type Effect, type LearnerProgress } from './progress.js';
import { toFact } from './facts.js';
import { evaluateHistory } from './history.js';
import { progressReport } from './report.js';
import type { Criteria } from './types.js';
import { badgeEvent, completed, dayOf, graded, membership, moduleIri, quiz, SECTION, submitted, type TestEvent } from '../test/events.js';

const TENANT = 'tenant-a';
const ANA = 'https://lms.example.edu/users/ana';
const BADGE = 'https://issuer.example/badges/python-basics';
const FINAL = `${SECTION}/final-exam`;
const QUIZZES = [1, 2, 3, 4, 5].map(quiz);

function courseCriteria(overrides: Partial<Criteria> = {}): Criteria {
  return {
    badgeClass: BADGE,
    version: 2,
    name: 'Python Basics',
    requirement: {
      all: [
        {
          id: 'enrolled',
          description: 'enrolled in the course section',
          match: { object: { type: 'Membership' } },
          latestBy: 'object.organization.id',
          where: [{ field: 'object.status', equals: 'Active' }],
        },
        {
          id: 'quizzes',
          description: 'pass any 3 of the 5 quizzes with 70%',
          match: { type: 'GradeEvent', action: 'Graded' },
          where: [{ field: 'object.assignable.id', in: QUIZZES }, { scoreRatio: { min: 0.7 } }],
          latestBy: 'object.assignable.id',
          atLeast: 3,
        },
        { id: 'final', description: 'submit the final exam', match: { type: 'AssessmentEvent', action: 'Submitted', object: { id: FINAL } } },
      ],
    },
    order: [['enrolled', 'final']],
    ...overrides,
  };
}

function fold(criteria: Criteria, events: TestEvent[], now = dayOf(400), start?: LearnerProgress) {
  let progress = start;
  const effects: Effect[] = [];
  for (const event of events) {
    const result = applyEvent(progress, event, criteria, { tenant: TENANT, learner: ANA, now });
    progress = result.progress;
    effects.push(...result.effects);
  }
  return { progress: progress!, effects };
}

const earning = (): TestEvent[] => [
  membership(ANA, SECTION, 'Active', 1),
  graded(ANA, quiz(1), 8, 10, 5),
  graded(ANA, quiz(2), 9, 10, 6),
  graded(ANA, quiz(3), 7, 10, 7),
  submitted(ANA, FINAL, 20),
];

describe('criteria engine: counts', () => {
  it('awards when 3 of the 5 quizzes are passed, once, with the events that satisfied each requirement', () => {
    const events = earning();
    const before = fold(courseCriteria(), events.filter((e) => e !== events[3]));
    expect(before.effects).toEqual([]);
    expect(progressReport(courseCriteria(), before.progress).requirements.find((r) => r.id === 'quizzes')?.summary).toBe('2 of 3 done, 1 to go');

    const { progress, effects } = fold(courseCriteria(), [...events, graded(ANA, quiz(4), 10, 10, 21)]);
    expect(effects).toHaveLength(1);
    const [award] = effects;
    expect(award).toMatchObject({ kind: 'award', tenant: TENANT, learner: ANA, badgeClass: BADGE, criteriaVersion: 2, awardedAt: dayOf(20) });
    expect(award!.id).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(award!.kind === 'award' && award!.provenance).toEqual({
      criteriaVersion: 2,
      requirements: [
        { requirement: 'enrolled', description: 'enrolled in the course section', events: [events[0]!.id] },
        { requirement: 'quizzes', description: 'pass any 3 of the 5 quizzes with 70%', events: [events[1]!.id, events[2]!.id, events[3]!.id] },
        { requirement: 'final', description: 'submit the final exam', events: [events[4]!.id] },
      ],
    });
    expect(progress.award?.awardId).toBe(award!.awardId);
  });

  it('does not count a failed quiz, nor an assignment outside the five', () => {
    const events = [...earning().slice(0, 3), graded(ANA, quiz(3), 6, 10, 7), graded(ANA, `${SECTION}/essays/1`, 10, 10, 8), submitted(ANA, FINAL, 20)];
    expect(fold(courseCriteria(), events).effects).toEqual([]);
  });

  it('needs all 8 modules, each counted once however often it is completed', () => {
    const modules = [1, 2, 3, 4, 5, 6, 7, 8].map(moduleIri);
    const criteria: Criteria = {
      badgeClass: BADGE,
      version: 1,
      requirement: { id: 'modules', match: { type: 'AssignableEvent', action: 'Completed', object: { id: modules } }, distinct: 'object.id', atLeast: 8 },
    };
    const seven = modules.slice(0, 7).map((m, i) => completed(ANA, m, i));
    const again = completed(ANA, modules[0]!, 9, 'again');
    expect(fold(criteria, [...seven, again]).effects).toEqual([]);
    const { effects } = fold(criteria, [...seven, again, completed(ANA, modules[7]!, 10)]);
    expect(effects.map((e) => e.kind)).toEqual(['award']);
  });
});

describe('criteria engine: latest values, regrades and unenrolments', () => {
  const regradeBelow = graded(ANA, quiz(2), 5, 10, 30, 'regrade');

  it('revokes when a regrade drops a quiz below the threshold, under whenUnmet revoke', () => {
    const { progress, effects } = fold(courseCriteria(), [...earning(), regradeBelow]);
    expect(effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
    const revoke = effects[1]!;
    expect(revoke).toMatchObject({ kind: 'revoke', awardId: effects[0]!.awardId, revokedAt: dayOf(30), brokenBy: [regradeBelow.id], unmet: ['quizzes'] });
    expect(revoke.kind === 'revoke' && revoke.reason).toContain('quizzes (pass any 3 of the 5 quizzes with 70%)');
    expect(progress.award).toBeNull();
    expect(progress.met).toBe(false);
  });

  it('keeps the badge after the same regrade under whenUnmet keep', () => {
    const { progress, effects } = fold(courseCriteria({ whenUnmet: 'keep' }), [...earning(), regradeBelow]);
    expect(effects.map((e) => e.kind)).toEqual(['award']);
    expect(progress.award?.awardId).toBe(effects[0]!.awardId);
    expect(progress.met).toBe(false);
  });

  it('a regrade arriving before the grade it replaces: no flash award under revoke, the same award under keep', () => {
    const inOrder = fold(courseCriteria({ whenUnmet: 'keep' }), [...earning(), regradeBelow]);
    const regradeFirst = [regradeBelow, ...earning()];
    expect(fold(courseCriteria(), regradeFirst).effects).toEqual([]);
    const kept = fold(courseCriteria({ whenUnmet: 'keep' }), regradeFirst);
    expect(kept.effects.map((e) => e.kind)).toEqual(['award']);
    expect(kept.progress.award?.awardId).toBe(inOrder.progress.award?.awardId);
  });

  it('a regrade back above the threshold awards again, with a new award id', () => {
    const { effects } = fold(courseCriteria(), [...earning(), regradeBelow, graded(ANA, quiz(2), 10, 10, 31, 'second regrade')]);
    expect(effects.map((e) => e.kind)).toEqual(['award', 'revoke', 'award']);
    expect(effects[2]!.awardId).not.toBe(effects[0]!.awardId);
  });

  it('an unenrolment cancels the enrolment and revokes; re-enrolling awards again unless awardAgain is false', () => {
    const unenrolled = [...earning(), membership(ANA, SECTION, 'Inactive', 25)];
    const revoked = fold(courseCriteria(), unenrolled);
    expect(revoked.effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
    expect(revoked.effects[1]).toMatchObject({ unmet: ['enrolled'] });
    // Re-enrolled: the order says the final exam counts only when submitted after the enrolment.
    const back = membership(ANA, SECTION, 'Active', 26);
    expect(fold(courseCriteria(), [...unenrolled, back]).effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
    const resubmitted = submitted(ANA, FINAL, 27);
    expect(fold(courseCriteria(), [...unenrolled, back, resubmitted]).effects.map((e) => e.kind)).toEqual(['award', 'revoke', 'award']);
    expect(fold(courseCriteria({ awardAgain: false }), [...unenrolled, back, resubmitted]).effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
  });

  it('an unenrolment that happened before the grades, arriving late, withdraws nothing under revoke when enrolment came back', () => {
    const events = [membership(ANA, SECTION, 'Active', 1), membership(ANA, SECTION, 'Inactive', 2), ...earning().slice(1)];
    // Enrolled on day 1, unenrolled on day 2: never enrolled when the criteria would be met.
    expect(fold(courseCriteria(), events).effects).toEqual([]);
    // The unenrolment arrives last: the award made meanwhile is withdrawn.
    const late = fold(courseCriteria(), [...events.filter((e) => e !== events[1]), events[1]!]);
    expect(late.effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
    expect(late.effects[1]!.kind === 'revoke' && late.effects[1]!.reason).toContain('withdrawn');
    expect(late.progress.award).toBeNull();
  });
});

describe('criteria engine: time and order', () => {
  const criteria: Criteria = {
    badgeClass: BADGE,
    version: 1,
    requirement: { id: 'quizzes', match: { type: 'GradeEvent' }, where: [{ scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 3 },
    window: 'P90D',
  };

  it('window P90D: counts only events within 90 days of the first one that counts', () => {
    const spread = [graded(ANA, quiz(1), 9, 10, 0), graded(ANA, quiz(2), 9, 10, 50), graded(ANA, quiz(3), 9, 10, 100)];
    const missed = fold(criteria, spread);
    expect(missed.effects).toEqual([]);
    expect(progressReport(criteria, missed.progress).notes).toContain('The requirements are met, but not all within P90D of each other.');
    const { effects } = fold(criteria, [...spread, graded(ANA, quiz(4), 9, 10, 120)]);
    expect(effects).toMatchObject([{ kind: 'award', awardedAt: dayOf(120) }]);
  });

  it('after and before: only events between the dates count', () => {
    const dated: Criteria = { ...criteria, window: undefined, after: dayOf(10), before: dayOf(40) };
    const events = [graded(ANA, quiz(1), 9, 10, 5), graded(ANA, quiz(2), 9, 10, 15), graded(ANA, quiz(3), 9, 10, 40)];
    expect(fold(dated, events).effects).toEqual([]);
    expect(fold(dated, [...events, graded(ANA, quiz(4), 9, 10, 20), graded(ANA, quiz(5), 9, 10, 39)]).effects.map((e) => e.kind)).toEqual(['award']);
  });

  it('order: the final exam counts only when submitted after enrolment', () => {
    const early = [submitted(ANA, FINAL, 0), ...earning().slice(0, 4)];
    const { progress, effects } = fold(courseCriteria(), early);
    expect(effects).toEqual([]);
    expect(progressReport(courseCriteria(), progress).requirements.find((r) => r.id === 'final')).toMatchObject({ met: false, summary: '0 of 1 done, 1 to go' });
    expect(fold(courseCriteria(), [...early, submitted(ANA, FINAL, 30)]).effects.map((e) => e.kind)).toEqual(['award']);
    const notEnrolled = fold(courseCriteria(), [submitted(ANA, FINAL, 30)]);
    expect(progressReport(courseCriteria(), notEnrolled.progress).requirements.find((r) => r.id === 'final')?.summary).toBe('waiting for enrolled to be met first');
  });
});

describe('criteria engine: pathways, penalties, expiry', () => {
  const A = 'https://issuer.example/badges/a';
  const B = 'https://issuer.example/badges/b';
  const pathway: Criteria = {
    badgeClass: 'https://issuer.example/badges/c',
    version: 1,
    requirement: { any: [{ id: 'capstone', match: { type: 'AssessmentEvent', action: 'Submitted', object: { idPrefix: `${SECTION}/capstone` } } }] },
    prerequisites: [{ badgeClass: A }, { badgeClass: B }],
  };
  const capstone = submitted(ANA, `${SECTION}/capstone`, 3);

  it('prerequisites: awards C once A and B are held, revokes C when A is revoked', () => {
    expect(fold(pathway, [badgeEvent('Issued', ANA, A, 1), capstone]).effects).toEqual([]);
    const held = fold(pathway, [badgeEvent('Issued', ANA, A, 1), capstone, badgeEvent('Issued', ANA, B, 4)]);
    expect(held.effects).toMatchObject([{ kind: 'award', provenance: { requirements: [{ requirement: 'capstone' }, { requirement: `prerequisite:${A}` }, { requirement: `prerequisite:${B}` }] } }]);
    const revoked = fold(pathway, [badgeEvent('Revoked', ANA, A, 9)], dayOf(400), held.progress);
    expect(revoked.effects).toMatchObject([{ kind: 'revoke', unmet: [`prerequisite:${A}`] }]);
  });

  it('prerequisites: a badge revoked before the other was issued is not held', () => {
    const events = [badgeEvent('Issued', ANA, A, 1), badgeEvent('Revoked', ANA, A, 2), capstone, badgeEvent('Issued', ANA, B, 4)];
    expect(fold(pathway, events).effects).toEqual([]);
    expect(fold(pathway, [...events, badgeEvent('Issued', ANA, A, 5, 'reissued')]).effects.map((e) => e.kind)).toEqual(['award']);
  });

  it('penalties: a misconduct finding voids the final exam submitted before it; a resubmission counts again', () => {
    const criteria = courseCriteria({
      penalties: [{ id: 'misconduct', description: 'academic misconduct voids the final exam', match: { type: 'Event', action: 'Flagged' }, unmeets: ['final'] }],
    });
    const flagged = { ...submitted(ANA, FINAL, 22, 'flag'), type: 'Event', action: 'Flagged', id: 'urn:uuid:00000000-0000-4000-8000-00000000f1a9' };
    const first = fold(criteria, [...earning(), flagged]);
    expect(first.effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
    expect(first.effects[1]).toMatchObject({ brokenBy: [flagged.id], unmet: ['final'] });
    expect(progressReport(criteria, first.progress).requirements.find((r) => r.id === 'final')?.summary).toContain('no longer count');
    expect(fold(criteria, [submitted(ANA, FINAL, 23, 'resubmitted')], dayOf(400), first.progress).effects.map((e) => e.kind)).toEqual(['award']);
  });

  it('expiry: an award expires expiresAfter after it was granted, and the next event that meets the criteria awards again', () => {
    const criteria = courseCriteria({ expiresAfter: 'P30D' });
    const granted = fold(criteria, earning(), dayOf(25));
    expect(granted.effects).toMatchObject([{ kind: 'award', awardedAt: dayOf(20), expiresAt: dayOf(50) }]);
    expect(checkExpiry(granted.progress, dayOf(49)).effects).toEqual([]);
    const expired = checkExpiry(granted.progress, dayOf(50));
    expect(expired.effects).toMatchObject([{ kind: 'expire', awardId: granted.effects[0]!.awardId, expiredAt: dayOf(50) }]);
    expect(expired.progress.award).toBeNull();
    expect(checkExpiry(expired.progress, dayOf(51)).effects).toEqual([]);
    const renewed = fold(criteria, [graded(ANA, quiz(4), 10, 10, 60)], dayOf(61), expired.progress);
    expect(renewed.effects).toMatchObject([{ kind: 'award', awardedAt: dayOf(60) }]);
    expect(renewed.effects[0]!.awardId).not.toBe(granted.effects[0]!.awardId);
  });
});

describe('criteria engine: idempotence, reports, backfill', () => {
  it('an event already applied changes nothing and emits nothing', () => {
    const { progress } = fold(courseCriteria(), earning());
    const again = applyEvent(progress, earning()[2]!, courseCriteria(), { tenant: TENANT, learner: ANA, now: dayOf(400) });
    expect(again.effects).toEqual([]);
    expect(again.progress).toBe(progress);
  });

  it('ignores events the criteria do not care about', () => {
    const login = { id: 'urn:uuid:00000000-0000-4000-8000-000000000001', type: 'SessionEvent', action: 'LoggedIn', actor: { id: ANA, type: 'Person' }, object: 'https://lms.example.edu', eventTime: dayOf(3) };
    const { progress, effects } = applyEvent(undefined, login, courseCriteria(), { tenant: TENANT, learner: ANA, now: dayOf(3) });
    expect(effects).toEqual([]);
    expect(progress.facts).toEqual([]);
  });

  it('reports progress in plain words', () => {
    const { progress } = fold(courseCriteria(), earning().slice(0, 3));
    const report = progressReport(courseCriteria(), progress);
    expect(report).toMatchObject({ badgeClass: BADGE, name: 'Python Basics', met: false, award: null });
    expect(report.requirements.map((r) => [r.id, r.summary])).toEqual([
      ['enrolled', `met on ${dayOf(1)} (1 of 1)`],
      ['quizzes', '2 of 3 done, 1 to go'],
      ['final', '0 of 1 done, 1 to go'],
    ]);
    expect(report.notes).toContain('1 of 3 requirements met; remaining: quizzes, final.');
  });

  it('evaluateHistory: a dry run says who would be awarded or revoked', () => {
    const BEN = 'https://lms.example.edu/users/ben';
    const held = fold(courseCriteria(), earning());
    const history = [...earning(), graded(ANA, quiz(1), 1, 10, 40), ...earning().map((e) => ({ ...e, id: `${e.id}-ben` })).map(forLearner(BEN))];
    const outcomes = evaluateHistory(courseCriteria(), history, { tenant: TENANT, now: dayOf(400) }, new Map([[ANA, held.progress]]));
    expect(outcomes.get(ANA)).toMatchObject({ met: false, award: null, change: 'revoke' });
    expect(outcomes.get(BEN)).toMatchObject({ met: true, change: 'award' });
  });
});

describe('criteria engine: a new version takes over (activation)', () => {
  const v3 = (overrides: Partial<Criteria> = {}) => courseCriteria({ version: 3, ...overrides });
  const requirements = () => (courseCriteria().requirement as { all: Criteria['requirement'][] }).all;
  const fromHistory = (criteria: Criteria, events: TestEvent[]) =>
    progressFromFacts(criteria, events.map((e) => toFact(criteria, e)).filter((f) => f !== undefined), { tenant: TENANT, learner: ANA, now: dayOf(400) });

  it('keeps an award the new version gives for the same completing event: same id, no effect', () => {
    const held = fold(courseCriteria(), earning());
    const next = fromHistory(v3({ name: 'Python Basics (reworded)' }), earning());
    const { progress, previous, effects } = succeed(held.progress, next, dayOf(400));
    expect(effects).toEqual([]);
    expect(progress.award?.awardId).toBe(held.progress.award!.awardId);
    expect(previous?.award).toBeNull();
    expect(progress.history).toEqual(held.progress.history);
  });

  it('replaces an award the new version gives differently, and revokes one it does not give', () => {
    const held = fold(courseCriteria(), earning());
    // Version 3 does not need the final exam: the third quiz completes it, so the award differs.
    const quizzesOnly = v3({ requirement: requirements()[1]!, order: undefined } as Partial<Criteria>);
    const replaced = succeed(held.progress, fromHistory(quizzesOnly, earning()), dayOf(400));
    expect(replaced.effects.map((e) => [e.kind, e.awardId])).toEqual([
      ['revoke', held.progress.award!.awardId],
      ['award', replaced.progress.award!.awardId],
    ]);
    expect(replaced.progress.award!.awardId).not.toBe(held.progress.award!.awardId);
    expect(replaced.effects[0]).toMatchObject({ kind: 'revoke', reason: expect.stringContaining('replaced: version 3') });

    // Version 3 also needs quiz 5, which Ana never took.
    const harder = v3({ requirement: { all: [...requirements(), { id: 'quiz-5', match: { type: 'GradeEvent', action: 'Graded', object: { id: quiz(5) } } }] } } as Partial<Criteria>);
    const revoked = succeed(held.progress, fromHistory(harder, earning()), dayOf(400));
    expect(revoked.effects.map((e) => [e.kind, e.awardId])).toEqual([['revoke', held.progress.award!.awardId]]);
    expect(revoked.progress.award).toBeNull();
    // Revoking twice (a backfill redone after a crash) gives the same id; effects emitted under
    // the earlier version carry over, so a later one never reuses an id.
    expect(succeed(held.progress, fromHistory(harder, earning()), dayOf(400)).effects[0]!.id).toBe(revoked.effects[0]!.id);
    const ids = [...revoked.progress.history.map((e) => e.id)];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a learner new to the badge class is awarded what the version gives over their history', () => {
    const { effects, previous } = succeed(undefined, fromHistory(v3(), earning()), dayOf(400));
    expect(effects.map((e) => e.kind)).toEqual(['award']);
    expect(previous).toBeUndefined();
  });
});

function forLearner(learner: string) {
  return (event: TestEvent): TestEvent => JSON.parse(JSON.stringify(event).replaceAll(ANA, learner).replaceAll(encodeURIComponent(ANA), encodeURIComponent(learner))) as TestEvent;
}
