import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateHistory } from './history.js';
import { applyEvent, type Effect, type LearnerProgress } from './progress.js';
import type { Criteria, Requirement } from './types.js';
import { validateCriteria } from './validate.js';
import { badgeEvent, completed, dayOf, graded, membership, moduleIri, quiz, SECTION, submitted, type TestEvent } from '../test/events.js';

const TENANT = 'tenant-p';
const LEARNER = 'https://lms.example.edu/users/pat';
const PREREQUISITE = 'https://issuer.example/badges/prerequisite';
const FINAL = `${SECTION}/final-exam`;
const NOW = dayOf(30);

// Requirements over a small world (3 quizzes, 3 modules, one section, one final exam), so that
// generated events often meet, unmeet and re-meet them.
const leafArb: fc.Arbitrary<(id: string) => Requirement> = fc.oneof(
  fc.record({ atLeast: fc.integer({ min: 1, max: 2 }), min: fc.constantFrom(0.5, 0.7) }).map(({ atLeast, min }) => (id: string) => ({
    id,
    match: { type: 'GradeEvent', action: 'Graded' },
    where: [{ scoreRatio: { min } }],
    latestBy: 'object.assignable.id',
    atLeast,
  })),
  fc.integer({ min: 1, max: 2 }).map((atLeast) => (id: string) => ({ id, match: { type: 'AssignableEvent', object: { idPrefix: `${SECTION}/modules/` } }, distinct: 'object.id', atLeast })),
  fc.constant((id: string) => ({ id, match: { object: { type: 'Membership' } }, latestBy: 'object.organization.id', where: [{ field: 'object.status', equals: 'Active' }] })),
  fc.integer({ min: 1, max: 2 }).map((atLeast) => (id: string) => ({ id, match: { type: 'AssessmentEvent', action: 'Submitted' }, atLeast })),
);

const criteriaArb: fc.Arbitrary<Criteria> = fc
  .record({
    leaves: fc.array(leafArb, { minLength: 1, maxLength: 2 }),
    group: fc.constantFrom('all', 'any', 'atLeast'),
    window: fc.option(fc.constantFrom('P7D', 'P14D'), { nil: undefined }),
    order: fc.boolean(),
    penalty: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
    prerequisite: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    whenUnmet: fc.constantFrom('revoke', 'keep') as fc.Arbitrary<'revoke' | 'keep'>,
    awardAgain: fc.boolean(),
    expiresAfter: fc.option(fc.constantFrom('P7D', 'P20D'), { nil: undefined }),
  })
  .map((c) => {
    const leaves = c.leaves.map((make, i) => make(`r${i}`));
    const requirement: Requirement =
      c.group === 'all' ? { all: leaves } : c.group === 'any' ? { any: leaves } : { atLeast: Math.max(1, leaves.length - 1), of: leaves };
    const criteria: Criteria = { badgeClass: 'https://issuer.example/badges/generated', version: 1, requirement, whenUnmet: c.whenUnmet, awardAgain: c.awardAgain };
    if (c.window) criteria.window = c.window;
    if (c.expiresAfter) criteria.expiresAfter = c.expiresAfter;
    if (c.order && leaves.length > 1) criteria.order = [['r0', 'r1']];
    if (c.penalty) criteria.penalties = [{ id: 'flagged', match: { type: 'Event', action: 'Flagged' }, unmeets: ['r0'] }];
    if (c.prerequisite) criteria.prerequisites = [{ badgeClass: PREREQUISITE }];
    return criteria;
  });

// Days 0..20 so that ties in eventTime happen; each event gets a unique label, so a unique id.
const eventArb: fc.Arbitrary<(label: string) => TestEvent> = fc.oneof(
  fc.record({ q: fc.integer({ min: 1, max: 3 }), score: fc.integer({ min: 2, max: 10 }), day: fc.integer({ min: 0, max: 20 }) }).map(
    ({ q, score, day }) => (label: string) => graded(LEARNER, quiz(q), score, 10, day, label),
  ),
  fc.record({ m: fc.integer({ min: 1, max: 3 }), day: fc.integer({ min: 0, max: 20 }) }).map(({ m, day }) => (label: string) => completed(LEARNER, moduleIri(m), day, label)),
  fc.record({ active: fc.integer({ min: 0, max: 3 }).map((n) => n > 0), day: fc.integer({ min: 0, max: 20 }) }).map(
    ({ active, day }) => (label: string) => membership(LEARNER, SECTION, active ? 'Active' : 'Inactive', day, label),
  ),
  fc.integer({ min: 0, max: 20 }).map((day) => (label: string) => submitted(LEARNER, FINAL, day, label)),
  fc.integer({ min: 0, max: 20 }).map((day) => (label: string) => ({ ...submitted(LEARNER, FINAL, day, `flag ${label}`), type: 'Event', action: 'Flagged' })),
  fc.record({ issued: fc.integer({ min: 0, max: 2 }).map((n) => n > 0), day: fc.integer({ min: 0, max: 20 }) }).map(
    ({ issued, day }) => (label: string) => badgeEvent(issued ? 'Issued' : 'Revoked', LEARNER, PREREQUISITE, day, label),
  ),
);

const eventsArb = fc.array(eventArb, { minLength: 2, maxLength: 12 }).map((makers) => makers.map((make, i) => make(`e${i}`)));

/** A permutation of the events with some repeated: the same set, arriving in another order. */
const redeliveryArb = (events: TestEvent[]) =>
  fc
    .tuple(fc.array(fc.double({ noNaN: true }), { minLength: events.length, maxLength: events.length }), fc.array(fc.nat(events.length - 1), { maxLength: 4 }))
    .map(([keys, repeats]) => {
      const shuffled = events.map((event, i) => ({ event, key: keys[i]! })).sort((a, b) => a.key - b.key).map(({ event }) => event);
      for (const [n, i] of repeats.entries()) shuffled.splice((i * 7 + n) % (shuffled.length + 1), 0, events[i]!);
      return shuffled;
    });

function fold(criteria: Criteria, events: TestEvent[]) {
  let progress: LearnerProgress | undefined;
  const effects: Effect[] = [];
  let held = new Set<string>();
  for (const event of events) {
    const result = applyEvent(progress, event, criteria, { tenant: TENANT, learner: LEARNER, now: NOW });
    progress = result.progress;
    for (const effect of result.effects) {
      effects.push(effect);
      if (effect.kind === 'award') {
        // Never two active awards of one badge class.
        expect(held.size).toBe(0);
        held = new Set([effect.awardId]);
      } else {
        expect(held.has(effect.awardId)).toBe(true);
        held.delete(effect.awardId);
      }
    }
  }
  // The effects emitted leave the learner holding exactly the award the progress says.
  expect([...held]).toEqual(progress!.award ? [progress!.award.awardId] : []);
  return { progress: progress!, effects };
}

/** The outcome: everything in a learner's progress but the emission log. */
const outcome = ({ facts, met, awards, award }: LearnerProgress) => ({ facts, met, awards, award });

const byEventTime = (events: TestEvent[]) => [...events].sort((a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

describe('criteria engine properties', () => {
  it('generated criteria are valid criteria documents', () => {
    fc.assert(
      fc.property(criteriaArb, (criteria) => {
        expect(validateCriteria(criteria)).toEqual({ ok: true, criteria });
      }),
      { numRuns: 100 },
    );
  });

  it('every order of arrival and any duplication give the same outcome: facts, met, awards, award id and provenance', () => {
    fc.assert(
      fc.property(criteriaArb, eventsArb.chain((events) => fc.tuple(fc.constant(events), redeliveryArb(events))), (criteria, [events, redelivered]) => {
        const inOrder = fold(criteria, byEventTime(events));
        const other = fold(criteria, redelivered);
        expect(outcome(other.progress)).toEqual(outcome(inOrder.progress));
      }),
      { numRuns: 500 },
    );
  });

  it('evaluateHistory (backfill, dry run) agrees with folding applyEvent', () => {
    fc.assert(
      fc.property(criteriaArb, eventsArb.chain((events) => fc.tuple(fc.constant(events), redeliveryArb(events))), (criteria, [events, redelivered]) => {
        const folded = fold(criteria, redelivered);
        const history = evaluateHistory(criteria, redelivered, { tenant: TENANT, now: NOW });
        const mine = history.get(LEARNER);
        if (folded.progress.facts.length === 0) expect(mine).toBeUndefined();
        else expect(outcome(mine!.progress)).toEqual(outcome(folded.progress));
        expect(events.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it('in eventTime order, regrades and unenrolments revoke under revoke and only then; under keep nothing is revoked', () => {
    fc.assert(
      fc.property(criteriaArb, eventsArb, (generated, events) => {
        const criteria: Criteria = { ...generated, awardAgain: true };
        delete criteria.expiresAfter;
        let progress: LearnerProgress | undefined;
        for (const event of byEventTime(events)) {
          const wasHeld = progress?.award ?? null;
          const result = applyEvent(progress, event, criteria, { tenant: TENANT, learner: LEARNER, now: NOW });
          progress = result.progress;
          const kinds = result.effects.map((e) => e.kind);
          if (criteria.whenUnmet === 'revoke') {
            // The badge is held exactly while the criteria are met.
            expect(progress.award !== null).toBe(progress.met);
            expect(kinds).toEqual(wasHeld && !progress.met ? ['revoke'] : !wasHeld && progress.met ? ['award'] : []);
          } else {
            expect(kinds).not.toContain('revoke');
            if (wasHeld) expect(progress.award?.awardId).toBe(wasHeld.awardId);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
