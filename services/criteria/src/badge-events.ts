import { BADGE_EVENT_TYPE, OPEN_BADGES_CONTEXT_IRI, OPEN_BADGES_PROFILE } from '@badgestream/profile-open-badges';
import { CRITERIA_NAMESPACE, uuidV5, type AwardEffect, type Effect } from '@badgestream/criteria';

const CALIPER_V1P2 = 'http://purl.imsglobal.org/ctx/caliper/v1p2';

/** The software agent named as edApp (and as actor where no person acts) of events Badgestream emits. */
export const BADGESTREAM_AGENT = { id: 'https://w3id.org/badgestream/agents/criteria', type: 'SoftwareApplication', name: 'Badgestream criteria engine' };

/** The actor of `Issued` events: Badgestream issuing for a tenant that issues through it (issuer mode `badgestream`). */
export const BADGESTREAM_ISSUER_AGENT = { id: 'https://w3id.org/badgestream/agents/issuer', type: 'SoftwareApplication', name: 'Badgestream, issuing for the tenant' };

/** Effect and award ids are `urn:uuid:` IRIs already; a bare UUID gets the prefix. */
function uuidUrn(id: string): string {
  return id.startsWith('urn:uuid:') ? id : `urn:uuid:${id}`;
}

/** The IRI of the assertion an award stands for, until an issuer names its own. */
export function assertionIri(awardId: string): string {
  return uuidUrn(awardId);
}

/** The id of the `Issued` event of an award effect: derived from the effect id, so publishing it twice is harmless. */
export function issuedEventId(effect: AwardEffect): string {
  return `urn:uuid:${uuidV5(`${effect.id}\nIssued`, CRITERIA_NAMESPACE)}`;
}

/**
 * The Caliper BadgeEvent an effect is announced with, on caliper.events: Demonstrated when a
 * learner meets the criteria, Revoked when an award is withdrawn (also on expiry). The event id
 * is the effect's deterministic id, so publishing it twice is harmless. The extensions carry the
 * provenance: which events satisfied (or broke) which requirement, under which criteria version.
 */
export function badgeEventFor(effect: Effect): Record<string, unknown> {
  const base = baseOf(uuidUrn(effect.id));
  const assertion = { id: assertionIri(effect.awardId), type: 'Assertion', badge: effect.badgeClass, recipient: recipientOf(effect.learner) };
  const criteria = { badgeClass: effect.badgeClass, version: effect.criteriaVersion };
  switch (effect.kind) {
    case 'award':
      return {
        ...base,
        // The profile makes the (prospective) recipient the actor of Demonstrated, and the badge class its object.
        actor: { id: effect.learner, type: 'Person' },
        action: 'Demonstrated',
        object: { id: effect.badgeClass, type: 'BadgeClass' },
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

/**
 * The `Issued` BadgeEvent of an award, for a tenant that issues through Badgestream: the
 * assertion itself (its id is the award id, so the `Revoked` of the same award names it too),
 * issued on the instant the criteria were met.
 */
export function issuedEventFor(effect: AwardEffect): Record<string, unknown> {
  return {
    ...baseOf(issuedEventId(effect)),
    actor: BADGESTREAM_ISSUER_AGENT,
    action: 'Issued',
    object: {
      id: assertionIri(effect.awardId),
      type: 'Assertion',
      badge: effect.badgeClass,
      recipient: recipientOf(effect.learner),
      issuedOn: effect.awardedAt,
      ...(effect.expiresAt ? { expires: effect.expiresAt } : {}),
    },
    eventTime: effect.awardedAt,
    extensions: { badgestream: { awardId: effect.awardId, criteria: { badgeClass: effect.badgeClass, version: effect.criteriaVersion }, demonstratedBy: uuidUrn(effect.id), provenance: effect.provenance } },
  };
}

function baseOf(id: string) {
  return { '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2], id, type: BADGE_EVENT_TYPE, profile: OPEN_BADGES_PROFILE, edApp: BADGESTREAM_AGENT };
}

/** Learners are keyed by Person IRI or, for OB identity objects, by `type:identity`. */
function recipientOf(learner: string): Record<string, unknown> {
  const identity = /^(email|url|telephone):(.+)$/.exec(learner);
  if (identity) return { type: identity[1], identity: identity[2], hashed: identity[2]!.startsWith('sha256$') };
  return { id: learner, type: 'Person' };
}
