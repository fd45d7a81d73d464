import { uuidV5 } from '@badgestream/criteria';
import type { Fact } from './facts.js';

/** Namespace of the xAPI statement ids derived from Caliper event ids (UUID v5), so a statement sent twice is the same statement. */
export const XAPI_NAMESPACE = '0d6f4c0e-5b0a-5b8e-9d27-2c1f5e8a7b31';
export const EARNED_VERB = 'http://id.tincanapi.com/verb/earned';
export const BADGE_ACTIVITY_TYPE = 'http://activitystrea.ms/schema/1.0/badge';
/** Verbs of the other Open Badges actions: Badgestream's, under its own IRI. */
export const BADGESTREAM_VERB_BASE = 'https://w3id.org/badgestream/xapi/verbs/';
export const RECIPIENT_HOME_PAGE = 'https://w3id.org/badgestream/recipients';

/** Actions whose xAPI actor is the badge's (prospective) recipient; for the others it is whoever acted (a verifier, an employer). */
const RECIPIENT_ACTIONS = new Set(['Issued', 'Demonstrated', 'Applied', 'Assigned', 'Revoked']);

/**
 * The xAPI statement of a badge event. The learner is identified by an account whose name is the
 * identifier Caliper events use for them (a Person IRI, or `email:sha256$…` for a hashed
 * identity), so it joins the rest of the organisation's learning data keyed the same way.
 */
export function statementOf(fact: Fact): Record<string, unknown> {
  const byRecipient = RECIPIENT_ACTIONS.has(fact.action) && fact.recipient !== '';
  const who = byRecipient ? fact.recipient : fact.actor;
  return {
    id: uuidV5(fact.eventId, XAPI_NAMESPACE),
    actor: { objectType: 'Agent', account: { homePage: accountHomePage(who), name: who } },
    verb:
      fact.action === 'Issued'
        ? { id: EARNED_VERB, display: { 'en-US': 'earned' } }
        : { id: `${BADGESTREAM_VERB_BASE}${fact.action.toLowerCase()}`, display: { 'en-US': fact.action.toLowerCase() } },
    object: {
      objectType: 'Activity',
      id: fact.badgeClass || 'https://w3id.org/badgestream/badge-classes/unknown',
      definition: { type: BADGE_ACTIVITY_TYPE },
    },
    timestamp: new Date(fact.time).toISOString(),
    context: {
      extensions: {
        'https://w3id.org/badgestream/xapi/caliper-event-id': fact.eventId,
        ...(fact.recipient && !byRecipient ? { 'https://w3id.org/badgestream/xapi/recipient': fact.recipient } : {}),
        ...(fact.edApp ? { 'https://w3id.org/badgestream/xapi/ed-app': fact.edApp } : {}),
        ...(fact.issuer ? { 'https://w3id.org/badgestream/xapi/issuer': fact.issuer } : {}),
      },
    },
  };
}

/** The origin of an IRI identifier, else Badgestream's recipients home page. */
function accountHomePage(id: string): string {
  try {
    const url = new URL(id);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
  } catch {
    // not a URL: an identity such as email:sha256$…
  }
  return RECIPIENT_HOME_PAGE;
}
