import { BADGE_EVENT_TYPE, CONSUMER_ACTIONS } from '@badgestream/profile-open-badges';
import type { AcceptedEntity, AcceptedEvent } from './envelope.js';
import { joinPointer, type EnvelopeProblem } from './problems.js';

/**
 * What a consumer-scoped key (a verifier, a backpack, an employer) may not post:
 * anything but the consumer-side badge actions, and no entity describes.
 */
export function forbiddenForConsumer(events: readonly AcceptedEvent[], entities: readonly AcceptedEntity[]): EnvelopeProblem[] {
  const allowed = CONSUMER_ACTIONS as readonly string[];
  const problems: EnvelopeProblem[] = [];
  for (const e of events) {
    if (e.type !== BADGE_EVENT_TYPE || !allowed.includes(e.action)) {
      problems.push({
        index: e.index,
        pointer: joinPointer('/data', e.index, 'action'),
        reason: `a consumer key may post only ${BADGE_EVENT_TYPE} with action ${allowed.join(', ')}; got ${e.type} ${e.action}`,
      });
    }
  }
  for (const e of entities) {
    problems.push({ index: e.index, pointer: joinPointer('/data', e.index), reason: `a consumer key may not post entity describes (${e.type})` });
  }
  return problems;
}
