// Caliper 1.2 events for the criteria engine's tests: grades, submissions, module completions,
// enrolments (a Membership whose status is Active or Inactive) and badge events of the profile.
import { uuidV5 } from '../src/uuid.js';

const TEST_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
export const LMS = 'https://lms.example.edu';
export const SECTION = `${LMS}/terms/2025/courses/7/sections/1`;
export const CALIPER = 'http://purl.imsglobal.org/ctx/caliper/v1p2';

export type TestEvent = Record<string, unknown> & { id: string; eventTime: string };

const person = (learner: string) => ({ id: learner, type: 'Person' });
const at = (day: number, hour = 0): string => new Date(Date.UTC(2025, 0, 1 + day, hour)).toISOString();
export const dayOf = at;
const eventId = (label: string): string => `urn:uuid:${uuidV5(label, TEST_NAMESPACE)}`;

export const quiz = (n: number): string => `${SECTION}/quizzes/${n}`;
export const moduleIri = (n: number): string => `${SECTION}/modules/${n}`;

/** A GradeEvent: an autograder graded the learner's Attempt of an assignment. */
export function graded(learner: string, assignment: string, scoreGiven: number, maxScore: number, day: number, label = `${learner} ${assignment} ${scoreGiven} ${day}`): TestEvent {
  const attempt = `${assignment}/users/${encodeURIComponent(learner)}/attempts/1`;
  return {
    '@context': CALIPER,
    id: eventId(`graded ${label}`),
    type: 'GradeEvent',
    profile: 'GradingProfile',
    actor: { id: `${LMS}/autograder`, type: 'SoftwareApplication' },
    action: 'Graded',
    object: { id: attempt, type: 'Attempt', assignee: person(learner), assignable: { id: assignment, type: 'Assessment' }, count: 1 },
    generated: { id: `${attempt}/scores/${day}`, type: 'Score', attempt, maxScore, scoreGiven, scoredBy: `${LMS}/autograder` },
    eventTime: at(day),
    edApp: { id: LMS, type: 'SoftwareApplication' },
    group: { id: SECTION, type: 'CourseSection' },
  };
}

/** An AssessmentEvent Submitted by the learner. */
export function submitted(learner: string, assessment: string, day: number, label = `${learner} ${assessment} ${day}`): TestEvent {
  return {
    '@context': CALIPER,
    id: eventId(`submitted ${label}`),
    type: 'AssessmentEvent',
    profile: 'AssessmentProfile',
    actor: person(learner),
    action: 'Submitted',
    object: { id: assessment, type: 'Assessment' },
    eventTime: at(day),
    edApp: LMS,
    group: { id: SECTION, type: 'CourseSection' },
  };
}

/** An AssignableEvent Completed: the learner completed a module. */
export function completed(learner: string, module: string, day: number, label = `${learner} ${module} ${day}`): TestEvent {
  return {
    '@context': CALIPER,
    id: eventId(`completed ${label}`),
    type: 'AssignableEvent',
    profile: 'AssignableProfile',
    actor: person(learner),
    action: 'Completed',
    object: { id: module, type: 'AssignableDigitalResource' },
    eventTime: at(day),
    edApp: LMS,
    group: SECTION,
  };
}

/**
 * An enrolment change: the learner's Membership of a course section, Active (enrolled) or Inactive
 * (unenrolled). The actor is the learner, so resolveLearner keys it to them (it does not read
 * Membership.member when a system is the actor).
 */
export function membership(learner: string, section: string, status: 'Active' | 'Inactive', day: number, label = `${learner} ${section} ${status} ${day}`): TestEvent {
  return {
    '@context': CALIPER,
    id: eventId(`membership ${label}`),
    type: 'Event',
    actor: person(learner),
    action: status === 'Active' ? 'Activated' : 'Deactivated',
    object: { id: `${section}/rosters/1/members/${encodeURIComponent(learner)}`, type: 'Membership', member: person(learner), organization: { id: section, type: 'CourseSection' }, roles: ['Learner'], status },
    eventTime: at(day),
    edApp: LMS,
  };
}

/** A BadgeEvent Issued or Revoked, with the embedded Assertion the profile requires. */
export function badgeEvent(action: 'Issued' | 'Revoked', learner: string, badgeClass: string, day: number, label = `${action} ${learner} ${badgeClass} ${day}`): TestEvent {
  return {
    '@context': ['https://w3id.org/badgestream/caliper/open-badges/v1', CALIPER],
    id: eventId(`badge ${label}`),
    type: 'BadgeEvent',
    profile: 'OpenBadgesProfile',
    actor: { id: 'https://badges.example.edu', type: 'SoftwareApplication' },
    action,
    object: {
      id: `https://badges.example.edu/assertions/${uuidV5(`${learner} ${badgeClass}`, TEST_NAMESPACE)}`,
      type: 'Assertion',
      badge: { id: badgeClass, type: 'BadgeClass' },
      recipient: person(learner),
      issuedOn: at(day),
      verification: { type: 'hosted' },
      ...(action === 'Revoked' ? { revoked: true } : {}),
    },
    eventTime: at(day),
  };
}
