import { randomUUID } from 'node:crypto';
import type { Criteria } from '@badgestream/criteria';

/**
 * The story `badgestream demo` tells, as data: a course section of six learners with three
 * assignments, the badge its issuer awards for it, the Caliper events the LMS sends over three
 * weeks, and the badge events that come back from a backpack and a verifier once badges are
 * issued. Pure: the demo (demo.ts) posts it and shows what Badgestream made of it.
 */

const CALIPER_V1P2 = 'http://purl.imsglobal.org/ctx/caliper/v1p2';
const OPEN_BADGES_CONTEXT = 'https://w3id.org/badgestream/caliper/open-badges/v1';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The course runs over the 20 days before the day of the demo, so that every event is recent and in the past. */
const COURSE_DAYS = 20;

export type CaliperEvent = Record<string, unknown> & { id: string; type: string; action: string; eventTime: string };

/** An event of the story, with what it means in plain words (shown in provenance). */
export interface StoryEvent {
  event: CaliperEvent;
  /** e.g. "Assignment 2 graded 73/100". */
  label: string;
}

/** What the story has each learner come to; the demo waits for it and the tests check it. */
export type Outcome = 'earned' | 'revoked' | 'unenrolled';

export interface DemoLearner {
  name: string;
  iri: string;
  outcome: Outcome;
}

export interface Assignment {
  n: number;
  iri: string;
  name: string;
}

/** A badge held by a learner, as the criteria service reports it: what a consumer reports about. */
export interface HeldBadge {
  learner: string;
  /** The IRI of the assertion (the award). */
  assertion: string;
  issuedOn: string;
}

export interface ConsumerApp {
  id: string;
  type: 'SoftwareApplication';
  name: string;
}

export interface Story {
  lms: string;
  section: { iri: string; name: string };
  instructor: { iri: string; name: string };
  assignments: Assignment[];
  learners: DemoLearner[];
  /** The issuer profile and badge class, hosted by the tenant: IRIs under `<ingest>/hosted/<tenant>/`. */
  issuer: Record<string, unknown> & { id: string; name: string };
  badgeClass: Record<string, unknown> & { id: string; name: string };
  criteria: Criteria;
  /** The issuer's badge platform defines the badge class (which hosts it) before the course starts. */
  defined: StoryEvent;
  /** The envelopes the LMS sends, in order: a day's activity each. */
  envelopes: StoryEvent[][];
  /** Where consumers report from. */
  backpack: ConsumerApp;
  verifier: ConsumerApp;
}

const SCORES: Record<string, number[]> = {
  'Amara Okafor': [92, 88, 95],
  'Bruno Silva': [78, 81, 74],
  'Chen Wei': [85, 90, 71],
  'Dana Kowalski': [88, 73, 80],
  'Elif Yilmaz': [84, 79, 58],
  'Farid Haddad': [81],
};
/** Dana's assignment 2, regraded after a rubric review: below the bar. */
const REGRADE = { learner: 'Dana Kowalski', assignment: 2, score: 64 };
/** Elif resubmits assignment 3 after failing it, and passes. */
const RESUBMISSION = { learner: 'Elif Yilmaz', assignment: 3, score: 76 };
/** Farid submits two assignments, is graded on the first, and drops the course. */
const DROPS_OUT = 'Farid Haddad';
/** Bruno does not share his badge; the other holders do. */
const KEEPS_IT_TO_HIMSELF = 'Bruno Silva';

/** The course, the badge and the LMS's events, all before the day of `now` (UTC). */
export function courseStory(options: { tenant: string; hostedBase: string; now: Date }): Story {
  const lms = `https://lms.${options.tenant}.example`;
  const start = Math.floor(options.now.getTime() / DAY_MS) * DAY_MS - COURSE_DAYS * DAY_MS;
  const at = (day: number, hour: number, minute = 0) => new Date(start + day * DAY_MS + hour * HOUR_MS + minute * 60_000).toISOString();
  const year = new Date(start).getUTCFullYear();
  const section = { iri: `${lms}/terms/${year}/courses/ds-101/sections/1`, name: 'DS 101: Foundations of Data Analysis' };
  const instructor = { iri: `${lms}/users/maria.lindqvist`, name: 'Maria Lindqvist' };
  const assignments: Assignment[] = ['Cleaning a dataset', 'Exploring distributions', 'A first regression'].map((name, i) => ({
    n: i + 1,
    iri: `${section.iri}/assignments/${i + 1}`,
    name: `Assignment ${i + 1}: ${name}`,
  }));
  const learners: DemoLearner[] = Object.keys(SCORES).map((name) => ({
    name,
    iri: `${lms}/users/${name.toLowerCase().replace(/ /g, '.')}`,
    outcome: name === REGRADE.learner ? 'revoked' : name === DROPS_OUT ? 'unenrolled' : 'earned',
  }));
  const edApp = { id: lms, type: 'SoftwareApplication', name: 'Demo University LMS' };
  const group = { id: section.iri, type: 'CourseSection', name: section.name };
  const person = (l: DemoLearner) => ({ id: l.iri, type: 'Person', name: l.name });
  const base = (type: string, action: string, actor: unknown, object: unknown, eventTime: string, profile?: string): CaliperEvent => ({
    '@context': CALIPER_V1P2,
    id: `urn:uuid:${randomUUID()}`,
    type,
    ...(profile ? { profile } : {}),
    actor,
    action,
    object,
    eventTime,
    edApp,
  });

  const loggedIn = (l: DemoLearner, time: string): StoryEvent => ({ event: base('SessionEvent', 'LoggedIn', person(l), edApp, time, 'SessionProfile'), label: 'logged in' });
  const viewedSyllabus = (l: DemoLearner, time: string): StoryEvent => ({
    event: { ...base('ViewEvent', 'Viewed', person(l), { id: `${section.iri}/syllabus`, type: 'Document', name: 'DS 101 syllabus' }, time, 'ReadingProfile'), group },
    label: 'viewed the syllabus',
  });
  // The learner is the actor, so the event is keyed to them (see resolveLearner).
  const membership = (l: DemoLearner, status: 'Active' | 'Inactive', time: string): StoryEvent => ({
    event: {
      ...base(
        'Event',
        status === 'Active' ? 'Activated' : 'Deactivated',
        person(l),
        { id: `${section.iri}/rosters/1/members/${l.iri.split('/').pop()}`, type: 'Membership', member: l.iri, organization: group, roles: ['Learner'], status },
        time,
        'GeneralProfile',
      ),
      group,
    },
    label: status === 'Active' ? 'enrolled in DS 101' : 'dropped DS 101',
  });
  const attemptOf = (l: DemoLearner, a: Assignment, count: number) => `${a.iri}/attempts/${l.iri.split('/').pop()}/${count}`;
  const submitted = (l: DemoLearner, a: Assignment, time: string, count = 1): StoryEvent => ({
    event: {
      ...base('AssignableEvent', 'Submitted', person(l), { id: a.iri, type: 'AssignableDigitalResource', name: a.name, maxScore: 100 }, time, 'AssignableProfile'),
      generated: { id: attemptOf(l, a, count), type: 'Attempt', assignee: l.iri, assignable: a.iri, count },
      group,
    },
    label: `assignment ${a.n} ${count > 1 ? 'resubmitted' : 'submitted'}`,
  });
  // Graded by the gradebook (a software agent): the learner is the attempt's assignee.
  const graded = (l: DemoLearner, a: Assignment, score: number, time: string, options: { count?: number; regrade?: boolean } = {}): StoryEvent => {
    const attempt = attemptOf(l, a, options.count ?? 1);
    return {
      event: {
        ...base(
          'GradeEvent',
          'Graded',
          { id: `${lms}/gradebook`, type: 'SoftwareApplication', name: 'Gradebook' },
          { id: attempt, type: 'Attempt', assignee: person(l), assignable: { id: a.iri, type: 'AssignableDigitalResource', name: a.name }, count: options.count ?? 1 },
          time,
          'GradingProfile',
        ),
        generated: { id: `${attempt}/scores/${Date.parse(time)}`, type: 'Score', attempt, maxScore: 100, scoreGiven: score, scoredBy: instructor.iri },
        group,
      },
      label: `assignment ${a.n} ${options.regrade ? 'regraded' : 'graded'} ${score}/100`,
    };
  };

  // Day by day, what the LMS sends. Minutes spread the learners out within an hour.
  const byDay = new Map<number, StoryEvent[]>();
  const on = (d: number, e: StoryEvent) => byDay.set(d, [...(byDay.get(d) ?? []), e]);
  learners.forEach((l, i) => {
    on(0, loggedIn(l, at(0, 9, i * 7)));
    on(0, membership(l, 'Active', at(0, 9, i * 7 + 2)));
    on(0, viewedSyllabus(l, at(0, 9, i * 7 + 4)));
  });
  for (const a of assignments) {
    const opens = (a.n - 1) * 5;
    learners.forEach((l, i) => {
      const score = SCORES[l.name]![a.n - 1];
      const dropped = l.name === DROPS_OUT && a.n > 2;
      if (dropped) return;
      on(opens + 3 + (i % 3), submitted(l, a, at(opens + 3 + (i % 3), 10 + i, 15)));
      if (score !== undefined) on(opens + 6, graded(l, a, score, at(opens + 6, 14, i * 5)));
    });
  }
  const farid = learners.find((l) => l.name === DROPS_OUT)!;
  on(10, membership(farid, 'Inactive', at(10, 16)));
  const elif = learners.find((l) => l.name === RESUBMISSION.learner)!;
  const third = assignments[RESUBMISSION.assignment - 1]!;
  on(17, submitted(elif, third, at(17, 10), 2));
  on(18, graded(elif, third, RESUBMISSION.score, at(18, 11), { count: 2 }));
  const dana = learners.find((l) => l.name === REGRADE.learner)!;
  on(18, graded(dana, assignments[REGRADE.assignment - 1]!, REGRADE.score, at(18, 15), { regrade: true }));

  const hosted = `${options.hostedBase}/hosted/${options.tenant}`;
  const issuer = { id: `${hosted}/issuer`, type: 'Issuer', name: 'Demo University', url: `https://${options.tenant}.example`, email: `badges@${options.tenant}.example` };
  const badgeClass = {
    id: `${hosted}/badges/data-analysis-foundations`,
    type: 'BadgeClass',
    name: 'Data Analysis Foundations',
    description: 'Awarded for completing DS 101: every assignment submitted and passed.',
    image: `${hosted}/badges/data-analysis-foundations/image.png`,
    criteria: { narrative: 'Stay enrolled in DS 101, submit all 3 assignments and pass each with at least 70%.' },
    issuer: issuer.id,
    tags: ['data analysis', 'statistics'],
  };
  const defined: StoryEvent = {
    event: {
      ...base('BadgeEvent', 'Defined', { id: instructor.iri, type: 'Person', name: instructor.name }, badgeClass, at(0, 8), 'OpenBadgesProfile'),
      '@context': [OPEN_BADGES_CONTEXT, CALIPER_V1P2],
    },
    label: 'badge class defined',
  };
  const criteria: Criteria = {
    badgeClass: badgeClass.id,
    version: 1,
    name: badgeClass.name,
    requirement: {
      all: [
        {
          id: 'enrolled',
          description: 'enrolled in DS 101',
          match: { type: 'Event', action: ['Activated', 'Deactivated'], object: { type: 'Membership', idPrefix: `${section.iri}/rosters/` } },
          where: [{ field: 'object.status', equals: 'Active' }],
          latestBy: 'object.organization.id',
        },
        {
          id: 'submitted',
          description: 'submit all 3 assignments',
          match: { type: 'AssignableEvent', action: 'Submitted', object: { idPrefix: `${section.iri}/assignments/` } },
          distinct: 'object.id',
          atLeast: 3,
        },
        {
          id: 'passed',
          description: 'pass each assignment with at least 70%',
          match: { type: 'GradeEvent', action: 'Graded', object: { idPrefix: `${section.iri}/assignments/` } },
          where: [{ scoreRatio: { min: 0.7 } }],
          latestBy: 'object.assignable.id',
          atLeast: 3,
        },
      ],
    },
    whenUnmet: 'revoke',
  };

  const days = [...byDay.keys()].sort((a, b) => a - b);
  const envelopes = days.map((d) => byDay.get(d)!.sort((a, b) => a.event.eventTime.localeCompare(b.event.eventTime)));
  return {
    lms,
    section,
    instructor,
    assignments,
    learners,
    issuer,
    badgeClass,
    criteria,
    defined,
    envelopes,
    backpack: { id: 'https://backpack.example.net', type: 'SoftwareApplication', name: 'Open Backpack' },
    verifier: { id: 'https://talent.northwind.example/badge-check', type: 'SoftwareApplication', name: 'Northwind Talent badge check' },
  };
}

/**
 * What comes back once badges are issued: each holder but one shares the badge from their
 * backpack, and an employer's verifier checks each shared badge a few hours later (never after
 * an hour before `now`).
 */
export function consumerReports(story: Story, held: readonly HeldBadge[], now: Date): { shared: StoryEvent[]; verified: StoryEvent[] } {
  const shared: StoryEvent[] = [];
  const verified: StoryEvent[] = [];
  const latest = now.getTime() - HOUR_MS;
  const sharing = held.filter((h) => story.learners.find((l) => l.iri === h.learner)?.name !== KEEPS_IT_TO_HIMSELF);
  sharing.forEach((h, i) => {
    const learner = story.learners.find((l) => l.iri === h.learner)!;
    const assertion = { id: h.assertion, type: 'Assertion', badge: story.badgeClass.id, recipient: { id: h.learner, type: 'Person' }, issuedOn: h.issuedOn };
    const sharedAt = new Date(Math.min(Date.parse(h.issuedOn) + (20 + i) * HOUR_MS, latest - 6 * HOUR_MS + i * HOUR_MS)).toISOString();
    const verifiedAt = new Date(Math.min(Date.parse(sharedAt) + (4 + i) * HOUR_MS, latest)).toISOString();
    shared.push({
      event: badgeEvent('Shared', { id: learner.iri, type: 'Person', name: learner.name }, assertion, sharedAt, story.backpack),
      label: `${learner.name} shared the badge from ${story.backpack.name}`,
    });
    verified.push({ event: badgeEvent('Verified', story.verifier, assertion, verifiedAt, story.verifier), label: `${story.verifier.name} verified ${learner.name}'s badge` });
  });
  return { shared, verified };
}

function badgeEvent(action: string, actor: unknown, object: unknown, eventTime: string, edApp: ConsumerApp): CaliperEvent {
  return { '@context': [OPEN_BADGES_CONTEXT, CALIPER_V1P2], id: `urn:uuid:${randomUUID()}`, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor, action, object, eventTime, edApp };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Mar 4 14:05": short, and the same on every machine (UTC). */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${iso.slice(11, 16)}`;
}

/** "Mar 4". */
export function shortDate(iso: string): string {
  const d = new Date(iso);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
}
