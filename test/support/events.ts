import { CALIPER_V1P2, eventId } from './ingest.js';

/** Caliper 1.2 events for tests, each with a fresh id; `extra` overrides any field. */

export function sessionEvent(learner: string, action: 'LoggedIn' | 'LoggedOut' = 'LoggedIn', extra: Record<string, unknown> = {}) {
  return {
    '@context': CALIPER_V1P2,
    id: eventId(),
    type: 'SessionEvent',
    actor: { id: learner, type: 'Person' },
    action,
    object: { id: 'https://example.edu', type: 'SoftwareApplication' },
    eventTime: '2026-11-15T10:15:00.000Z',
    ...extra,
  };
}

export function viewEvent(learner: string, extra: Record<string, unknown> = {}) {
  return {
    '@context': CALIPER_V1P2,
    id: eventId(),
    type: 'ViewEvent',
    profile: 'ReadingProfile',
    actor: { id: learner, type: 'Person' },
    action: 'Viewed',
    object: { id: 'https://example.edu/etexts/201.epub', type: 'Document', name: 'IMS Caliper Implementation Guide' },
    eventTime: '2026-11-15T10:15:00.000Z',
    edApp: { id: 'https://example.edu/reader', type: 'SoftwareApplication' },
    ...extra,
  };
}

/**
 * A score for the learner's attempt at an assignable, posted by an autograder: the learner is
 * the attempt's assignee.
 */
export function gradeEvent(
  learner: string,
  options: { assignable?: string; attempt?: string; scoreGiven?: number; maxScore?: number; eventTime?: string } = {},
) {
  const assignable = options.assignable ?? 'https://example.edu/courses/7/assess/1';
  const attempt = options.attempt ?? `${learner}/attempts/${encodeURIComponent(assignable)}`;
  return {
    '@context': CALIPER_V1P2,
    id: eventId(),
    type: 'GradeEvent',
    profile: 'GradingProfile',
    actor: { id: 'https://example.edu/autograder', type: 'SoftwareApplication' },
    action: 'Graded',
    object: { id: attempt, type: 'Attempt', assignee: { id: learner, type: 'Person' }, assignable: { id: assignable, type: 'Assessment' }, count: 1 },
    generated: { id: `${attempt}/score`, type: 'Score', attempt, maxScore: options.maxScore ?? 15, scoreGiven: options.scoreGiven ?? 10 },
    eventTime: options.eventTime ?? '2026-11-15T10:57:06.000Z',
  };
}

/** An Open Badges profile event about an assertion whose recipient is `learner`; `options` name other badge objects. */
export function badgeEvent(action: string, learner: string, options: { assertion?: string; badge?: string } = {}) {
  return {
    '@context': ['https://w3id.org/badgestream/caliper/open-badges/v1', CALIPER_V1P2],
    id: eventId(),
    type: 'BadgeEvent',
    profile: 'OpenBadgesProfile',
    actor: { id: 'https://verifier.example/app', type: 'SoftwareApplication' },
    action,
    object: {
      id: options.assertion ?? 'https://issuer.example/assertions/1',
      type: 'Assertion',
      badge: options.badge ?? 'https://issuer.example/badges/python-basics',
      recipient: { id: learner, type: 'Person' },
      issuedOn: '2026-10-01T00:00:00.000Z',
    },
    eventTime: '2026-11-15T10:15:00.000Z',
  };
}
