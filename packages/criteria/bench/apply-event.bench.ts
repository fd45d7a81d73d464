// applyEvent throughput on one core: 20 active criteria, 1,000 learners, grades, submissions,
// completions and enrolments, 5% of them arriving late (out of eventTime order) and 2% twice.
// A program, not a test: it prints figures and never fails on a timing.
// Run: node --conditions=source --import tsx packages/criteria/bench/apply-event.bench.ts
// SELECTIVE=1: each criteria is about its own course (as in practice: an event concerns one or
// two badges); otherwise every criteria cares about nearly every event (the worst case).
import { applyEvent, isRelevant, type Criteria, type LearnerProgress } from '../src/index.js';
import { completed, graded, membership, moduleIri, quiz, SECTION, submitted, type TestEvent } from '../test/events.js';

const EVENTS = Number(process.env.EVENTS ?? 200_000);
const LEARNERS = 1_000;

const SELECTIVE = process.env.SELECTIVE === '1';
const course = (i: number) => (SELECTIVE ? 100 + i : 0);
const criteria: Criteria[] = Array.from({ length: 20 }, (_, i) => ({
  badgeClass: `https://issuer.example/badges/${i}`,
  version: 1,
  requirement: {
    all: [
      { id: 'enrolled', match: { object: { type: 'Membership', idPrefix: `${SECTION}${SELECTIVE ? `/${i}` : ''}/rosters/` } }, latestBy: 'object.organization.id', where: [{ field: 'object.status', equals: 'Active' }] },
      SELECTIVE
        ? { id: 'quizzes', match: { type: 'GradeEvent', action: 'Graded', object: { idPrefix: quiz(course(i)) } }, where: [{ scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 3 }
        : { id: 'quizzes', match: { type: 'GradeEvent', action: 'Graded' }, where: [{ field: 'object.assignable.id', in: [1, 2, 3, 4, 5].map((q) => quiz(q + (i % 4) * 5)) }, { scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 3 },
      { id: 'modules', match: { type: 'AssignableEvent', object: { idPrefix: SELECTIVE ? moduleIri(course(i)) : `${SECTION}/modules/` } }, distinct: 'object.id', atLeast: 4 },
      { id: 'final', match: { type: 'AssessmentEvent', action: 'Submitted', object: { id: `${SECTION}/final-${i % 5}` } } },
    ],
  },
  order: [['enrolled', 'final']],
  window: i % 2 ? 'P90D' : undefined,
  whenUnmet: i % 3 ? 'revoke' : 'keep',
  expiresAfter: i % 4 ? undefined : 'P365D',
}));

let seed = 42;
const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const events: TestEvent[] = [];
const day = new Array<number>(LEARNERS).fill(0);
for (let n = 0; n < EVENTS; n++) {
  const l = Math.floor(random() * LEARNERS);
  const learner = `https://lms.example.edu/users/${l}`;
  const d = (day[l]! += random() < 0.3 ? 1 : 0);
  const late = random() < 0.05 ? Math.max(0, d - 3) : d;
  const kind = random();
  const label = `${n}`;
  // In SELECTIVE mode a learner takes two of the 20 courses.
  const c = (l + (random() < 0.5 ? 0 : 7)) % 20;
  const item = (count: number): number => (SELECTIVE ? course(c) * 10 + Math.floor(random() * count) : 1 + Math.floor(random() * 20));
  events.push(
    kind < 0.05 ? membership(learner, SELECTIVE ? `${SECTION}/${c}` : SECTION, random() < 0.9 ? 'Active' : 'Inactive', late, label)
    : kind < 0.55 ? graded(learner, quiz(item(5)), Math.floor(random() * 11), 10, late, label)
    : kind < 0.85 ? completed(learner, moduleIri(item(8)), late, label)
    : submitted(learner, `${SECTION}/final-${SELECTIVE ? c % 5 : Math.floor(random() * 5)}`, late, label),
  );
  // Sensors stamp events to the millisecond: a learner's events rarely share an eventTime.
  const last = events.at(-1)!;
  last.eventTime = new Date(Date.parse(last.eventTime) + (n % 86_400) * 1000).toISOString();
  if (random() < 0.02) events.push(last);
}

const learnerOf = (event: TestEvent): string => {
  const actor = event.actor as { id: string; type: string };
  return actor.type === 'Person' ? actor.id : ((event.object as { assignee: { id: string } }).assignee.id);
};

const states = new Map<string, LearnerProgress>();
let effects = 0;
let applications = 0;
const start = process.hrtime.bigint();
for (const event of events) {
  const learner = learnerOf(event);
  for (const c of criteria) {
    if (!isRelevant(c, event)) continue;
    const key = `${learner}|${c.badgeClass}`;
    const result = applyEvent(states.get(key), event, c, { tenant: 't', learner, now: '2026-06-01T00:00:00Z' });
    states.set(key, result.progress);
    effects += result.effects.length;
    applications++;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const facts = [...states.values()].reduce((sum, p) => sum + p.facts.length, 0);
process.stdout.write(
  `${events.length} events (${applications} applyEvent calls over 20 criteria) in ${seconds.toFixed(2)} s: ` +
    `${Math.round(events.length / seconds)} events/s, ${Math.round(applications / seconds)} applyEvent/s; ` +
    `${effects} effects; ${states.size} progress documents, ${(facts / states.size).toFixed(1)} facts each\n`,
);
