import { describe, expect, it } from 'vitest';
import { createSchemaValidator, resolveLearner } from '@badgestream/caliper';
import type { AwardEffect, Effect, ExpireEffect, RevokeEffect } from '@badgestream/criteria';
import { assertionIri, badgeEventFor, issuedEventFor, issuedEventId } from './badge-events.js';

const validator = createSchemaValidator();

const award: AwardEffect = {
  kind: 'award',
  id: 'urn:uuid:2f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b',
  tenant: 'example-university',
  learner: 'https://example.edu/users/554433',
  badgeClass: 'https://issuer.example/badges/python-basics',
  criteriaVersion: 2,
  awardId: 'urn:uuid:2f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b',
  causedBy: 'urn:uuid:7d1b6c1e-3c4d-4e6f-8a9b-0c1d2e3f4a5b',
  awardedAt: '2026-10-15T10:00:00.000Z',
  expiresAt: '2027-10-15T10:00:00.000Z',
  provenance: { criteriaVersion: 2 } as unknown as AwardEffect['provenance'],
};
const revoke: RevokeEffect = {
  ...award,
  kind: 'revoke',
  id: 'urn:uuid:4a1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b',
  revokedAt: '2026-10-20T10:00:00.000Z',
  reason: 'quiz 3 regraded below 70%',
  brokenBy: ['urn:uuid:5b1b6c1e-3c4d-4e6f-8a9b-0c1d2e3f4a5b'],
  unmet: ['quizzes'],
  awardProvenance: award.provenance,
};
const expire: ExpireEffect = { ...award, kind: 'expire', id: 'urn:uuid:6c1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b', expiredAt: '2027-10-15T10:00:00.000Z' };

const learners = ['https://example.edu/users/554433', 'email:sha256$c7ef86405ba71b85acd8e2e95166c4b111448089f2e1599f42fe1bba46e865c5'];

describe('the BadgeEvents Badgestream publishes', () => {
  for (const learner of learners) {
    it(`validate against the Open Badges profile, and name the learner the partition key names (${learner.slice(0, 20)}…)`, () => {
      const events = [award, revoke, expire].map((e) => badgeEventFor({ ...e, learner } as Effect));
      events.push(issuedEventFor({ ...award, learner }));
      for (const event of events) {
        expect(validator.event(event, 'v1p2'), `${String(event.action)}`).toEqual([]);
        expect(resolveLearner(event), String(event.action)).toBe(learner);
      }
    });
  }

  it('use the effect id as the event id, and derive the Issued id from it', () => {
    expect(badgeEventFor(award).id).toBe(award.id);
    expect(issuedEventFor(award).id).toBe(issuedEventId(award));
    expect(issuedEventId(award)).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(issuedEventId(award)).not.toBe(award.id);
    expect(issuedEventId({ ...award, id: 'urn:uuid:9f1b6c1e-3c4d-5e6f-8a9b-0c1d2e3f4a5b' })).not.toBe(issuedEventId(award));
  });

  it('issue the assertion that the revocation of the same award names', () => {
    const issued = issuedEventFor(award);
    expect(issued).toMatchObject({
      action: 'Issued',
      object: { id: assertionIri(award.awardId), type: 'Assertion', badge: award.badgeClass, recipient: { id: award.learner, type: 'Person' }, issuedOn: award.awardedAt, expires: award.expiresAt },
      eventTime: award.awardedAt,
    });
    expect(badgeEventFor(revoke)).toMatchObject({ action: 'Revoked', object: { id: assertionIri(award.awardId), revoked: true, revocationReason: revoke.reason } });
  });
});
