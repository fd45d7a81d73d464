import { BADGE_EVENT_TYPE, OPEN_BADGES_CONTEXT_IRI, OPEN_BADGES_PROFILE } from '@badgestream/profile-open-badges';
import type { Effect } from '@badgestream/criteria';

const CALIPER_V1P2 = 'http://purl.imsglobal.org/ctx/caliper/v1p2';

/** The software agent named as edApp (and as actor where no person acts) of events Badgestream emits. */
export const BADGESTREAM_AGENT = { id: 'https://w3id.org/badgestream/agents/criteria', type: 'SoftwareApplication', name: 'Badgestream criteria engine' };

/** The IRI of the assertion an award stands for, until an issuer names its own. */
export function assertionIri(awardId: string): string {
  return `urn:uuid:${awardId}`;
}

/**
 * The Caliper BadgeEvent an effect is announced with, on caliper.events: Demonstrated when a
 * learner meets the criteria, Revoked when an award is withdrawn (also on expiry). The event id
 * is the effect's deterministic id, so publishing it twice is harmless. The extensions carry the
 * provenance: which events satisfied (or broke) which requirement, under which criteria version.
 */
export function badgeEventFor(effect: Effect): Record<string, unknown> {
  const base = {
    '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2],
    id: `urn:uuid:${effect.id}`,
    type: BADGE_EVENT_TYPE,
    profile: OPEN_BADGES_PROFILE,
    edApp: BADGESTREAM_AGENT,
  };
  const assertion = { id: assertionIri(effect.awardId), type: 'Assertion', badge: effect.badgeClass, recipient: recipientOf(effect.learner) };
  const criteria = { badgeClass: effect.badgeClass, version: effect.criteriaVersion };
  switch (effect.kind) {
    case 'award':
      return {
        ...base,
        actor: actorOf(effect.learner),
        action: 'Demonstrated',
        object: effect.badgeClass,
        eventTime: effect.awardedAt,
        extensions: { badgestream: { awardId: effect.awardId, criteria, causedBy: effect.causedBy, provenance: effect.provenance, ...(effect.expiresAt ? { expiresAt: effect.expiresAt } : {}) } },
      };
    case 'revoke':
      return {
        ...base,
        actor: BADGESTREAM_AGENT,
        action: 'Revoked',
        object: { ...assertion, revoked: true, revocationReason: effect.reason },
        eventTime: effect.revokedAt,
        extensions: { badgestream: { awardId: effect.awardId, criteria, causedBy: effect.causedBy, brokenBy: effect.brokenBy, unmet: effect.unmet, awardProvenance: effect.awardProvenance } },
      };
    case 'expire':
      return {
        ...base,
        actor: BADGESTREAM_AGENT,
        action: 'Revoked',
        object: { ...assertion, revoked: true, revocationReason: 'expired' },
        eventTime: effect.expiredAt,
        extensions: { badgestream: { awardId: effect.awardId, criteria, causedBy: effect.causedBy, expired: true } },
      };
  }
}

/** Learners are keyed by Person IRI or, for OB identity objects, by `type:identity`. */
function recipientOf(learner: string): Record<string, unknown> {
  const identity = /^(email|url|telephone):(.+)$/.exec(learner);
  if (identity) return { type: identity[1], identity: identity[2], hashed: identity[2]!.startsWith('sha256$') };
  return { id: learner, type: 'Person' };
}

function actorOf(learner: string): Record<string, unknown> | string {
  return /^(email|url|telephone):/.test(learner) ? BADGESTREAM_AGENT : { id: learner, type: 'Person' };
}
