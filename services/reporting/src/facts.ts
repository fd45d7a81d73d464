import { assertionRecipient, entityId, resolveLearner } from '@badgestream/caliper';
import { BADGE_EVENT_TYPE } from '@badgestream/profile-open-badges';

/** Record headers reporting reads (written by ingest). */
export const TENANT_HEADER = 'badgestream-tenant';
export const RECEIVED_AT_HEADER = 'badgestream-received-at';

/**
 * What reporting keeps of one event: who, what, which badge, when. Every figure of the API is a
 * function of the set of facts of a tenant, so a fact counted once per event id gives the same
 * figures whatever the order or redelivery of the events.
 */
export interface Fact {
  tenant: string;
  eventId: string;
  /** The Open Badges action of a BadgeEvent; `Type:Action` of any other event (GradeEvent:Graded). */
  action: string;
  /** Epoch milliseconds of eventTime. */
  time: number;
  /** The badge class the event is about, '' when it names none (a learning event, an assertion by IRI only). */
  badgeClass: string;
  /** The issuer of that badge class when the event embeds it, else ''. */
  issuer: string;
  /** The (prospective) recipient of the badge, or the learner of a learning event; '' when unknown. */
  recipient: string;
  actor: string;
  edApp: string;
  /** True for BadgeEvents (the Open Badges actions), false for the learning events criteria use. */
  badge: boolean;
  /** When ingest received the event (epoch ms): duplicates are recognised within a window of this. */
  receivedAt: number;
}

/**
 * The fact of a decoded record, or a reason it has none: records without a tenant header (not
 * written by ingest) or that are not events are skipped, never counted.
 */
export function factOf(headers: Record<string, string>, value: unknown, recordTimestamp?: string): Fact | { skip: string } {
  const tenant = headers[TENANT_HEADER];
  if (!tenant) return { skip: 'no tenant header' };
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { skip: 'not an event' };
  const event = value as Record<string, unknown>;
  if (typeof event.id !== 'string' || typeof event.action !== 'string' || typeof event.eventTime !== 'string') return { skip: 'not an event' };
  const time = Date.parse(event.eventTime);
  if (Number.isNaN(time)) return { skip: 'eventTime is not a date' };
  const received = Date.parse(headers[RECEIVED_AT_HEADER] ?? '');
  const receivedAt = Number.isNaN(received) ? Number(recordTimestamp ?? Date.now()) : received;
  const badge = event.type === BADGE_EVENT_TYPE;
  const { badgeClass, issuer } = badge ? badgeOf(event) : { badgeClass: '', issuer: '' };
  return {
    tenant,
    eventId: event.id,
    // Learning events are counted as Type:Action: a Caliper Shared annotation is not a badge shared.
    action: badge ? event.action : `${typeof event.type === 'string' ? event.type : 'Event'}:${event.action}`,
    time,
    badgeClass,
    issuer,
    recipient: badge ? (recipientOf(event) ?? '') : resolveLearner(event),
    actor: entityId(event.actor) ?? '',
    edApp: entityId(event.edApp) ?? '',
    badge,
    receivedAt,
  };
}

/**
 * The badge class of a BadgeEvent: the object when it is a BadgeClass, else the `badge` of an
 * embedded Assertion (object, then generated); its issuer when the badge class is embedded.
 */
export function badgeOf(event: Record<string, unknown>): { badgeClass: string; issuer: string } {
  for (const candidate of [event.object, event.generated]) {
    if (!candidate || typeof candidate !== 'object') continue;
    const entity = candidate as Record<string, unknown>;
    if (entity.type === 'BadgeClass' && typeof entity.id === 'string') return { badgeClass: entity.id, issuer: entityId(entity.issuer) ?? '' };
    if (entity.type === 'Assertion') {
      const badgeClass = entityId(entity.badge);
      if (badgeClass) {
        const embedded = entity.badge && typeof entity.badge === 'object' ? (entity.badge as Record<string, unknown>) : undefined;
        return { badgeClass, issuer: entityId(embedded?.issuer) ?? '' };
      }
    }
  }
  return { badgeClass: '', issuer: '' };
}

/**
 * The recipient of a BadgeEvent: the recipient of its Assertion (object, then generated), else
 * the actor when a Person acts for themself (Applied, Assigned, Demonstrated).
 */
function recipientOf(event: Record<string, unknown>): string | undefined {
  const recipient = assertionRecipient(event.object) ?? assertionRecipient(event.generated);
  if (recipient) return recipient;
  const actor = event.actor;
  if (actor && typeof actor === 'object' && (actor as Record<string, unknown>).type === 'Person' && SELF_ACTIONS.has(String(event.action))) return entityId(actor);
  return undefined;
}

const SELF_ACTIONS = new Set(['Applied', 'Assigned', 'Demonstrated']);
