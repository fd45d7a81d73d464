/**
 * Who an event is about: the partition key's learner part (ARCHITECTURE.md, the
 * contract, item 5), so that one consumer sees all of a learner's events in order.
 *
 * - the actor, when the actor is a Person;
 * - for a graded Attempt (GradeEvent, or any event whose object is an Attempt acted on
 *   by a non-Person), the attempt's `assignee`;
 * - for badge events, the badge's recipient: `object.recipient` when the object is an
 *   embedded Assertion, else `generated.recipient` when an Assertion was generated, else
 *   the actor when it is a Person (see caliper-profiles/open-badges/README.md);
 * - otherwise the actor's id, so events of software agents still keep their order.
 */
export function resolveLearner(event: Record<string, unknown>): string {
  if (event.type === 'BadgeEvent') {
    const recipient = assertionRecipient(event.object) ?? assertionRecipient(event.generated);
    if (recipient) return recipient;
    return entityId(event.actor) ?? 'unknown';
  }
  if (isOfType(event.actor, 'Person')) return entityId(event.actor)!;
  if (isOfType(event.object, 'Attempt')) {
    const assignee = entityId((event.object as Record<string, unknown>).assignee);
    if (assignee) return assignee;
  }
  return entityId(event.actor) ?? 'unknown';
}

/** `recipient` of an embedded Assertion: a Person (IRI or object) or an OB 2.0 IdentityObject. */
export function assertionRecipient(value: unknown): string | undefined {
  if (!isOfType(value, 'Assertion')) return undefined;
  const recipient = (value as Record<string, unknown>).recipient;
  if (typeof recipient === 'string') return recipient;
  if (!recipient || typeof recipient !== 'object') return undefined;
  const r = recipient as Record<string, unknown>;
  if (typeof r.id === 'string') return r.id;
  if (typeof r.identity === 'string') return `${typeof r.type === 'string' ? r.type : 'identity'}:${r.identity}`;
  return undefined;
}

export function entityId(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Record<string, unknown>).id === 'string') return (value as Record<string, string>).id;
  return undefined;
}

function isOfType(value: unknown, type: string): boolean {
  return !!value && typeof value === 'object' && (value as Record<string, unknown>).type === type;
}
