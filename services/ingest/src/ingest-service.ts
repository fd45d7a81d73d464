import { forbiddenForConsumer, type AcceptedEntity, type AcceptedEvent, type EnvelopeInspector, type EnvelopeProblem } from '@badgestream/caliper';
import { TOPICS, type EventLog, type OutgoingRecord, type Principal } from '@badgestream/platform';

export type IngestOutcome =
  | { kind: 'accepted'; events: number; entities: number }
  | { kind: 'rejected'; status: 400 | 403 | 422; title: string; problems: EnvelopeProblem[] };

/** Kafka record headers written with every event and entity. */
export const HEADERS = {
  tenant: 'badgestream-tenant',
  eventId: 'badgestream-event-id',
  entityId: 'badgestream-entity-id',
  dataVersion: 'caliper-data-version',
  sensor: 'caliper-sensor',
  receivedAt: 'badgestream-received-at',
} as const;

/**
 * The Caliper Sensor API's use case: an authenticated principal posts an envelope;
 * it is accepted whole (every event durably in Kafka) or rejected whole.
 */
export class IngestService {
  constructor(
    private readonly inspector: EnvelopeInspector,
    private readonly eventLog: EventLog,
  ) {}

  async ingest(principal: Principal, body: unknown): Promise<IngestOutcome> {
    const inspection = await this.inspector.inspect(body);
    if (!inspection.ok) return { kind: 'rejected', status: inspection.status, title: inspection.title, problems: inspection.problems };
    if (principal.scope === 'consumer') {
      const forbidden = forbiddenForConsumer(inspection.events, inspection.entities);
      if (forbidden.length > 0) return { kind: 'rejected', status: 403, title: 'This key may not post these events', problems: forbidden };
    } else if (principal.scope !== 'sensor') {
      return {
        kind: 'rejected',
        status: 403,
        title: 'This key may not post Caliper events',
        problems: [{ pointer: '', reason: `keys with scope ${principal.scope} cannot post; use a sensor or consumer key` }],
      };
    }
    const receivedAt = new Date().toISOString();
    const common = { [HEADERS.tenant]: principal.tenant, [HEADERS.dataVersion]: inspection.dataVersion, [HEADERS.sensor]: inspection.sensor, [HEADERS.receivedAt]: receivedAt };
    const records: OutgoingRecord[] = [
      ...inspection.events.map((e) => eventRecord(principal.tenant, e, common)),
      ...inspection.entities.map((e) => entityRecord(principal.tenant, e, common)),
    ];
    await this.eventLog.publish(records);
    return { kind: 'accepted', events: inspection.events.length, entities: inspection.entities.length };
  }
}

/** Partition key: tenant + learner, so one consumer sees all of a learner's events in order. */
export function eventKey(tenant: string, learner: string): string {
  return `${tenant}|${learner}`;
}

function eventRecord(tenant: string, e: AcceptedEvent, common: Record<string, string>): OutgoingRecord {
  return { topic: TOPICS.events, key: eventKey(tenant, e.learner), value: e.event, headers: { ...common, [HEADERS.eventId]: e.id } };
}

function entityRecord(tenant: string, e: AcceptedEntity, common: Record<string, string>): OutgoingRecord {
  return { topic: TOPICS.entities, key: `${tenant}|${e.id}`, value: e.entity, headers: { ...common, [HEADERS.entityId]: e.id } };
}
