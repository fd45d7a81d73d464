import { forbiddenForConsumer, type AcceptedEntity, type AcceptedEvent, type EnvelopeInspection, type EnvelopeInspector, type EnvelopeProblem } from '@badgestream/caliper';
import { TOPICS, type EventLog, type OutgoingRecord, type Principal } from '@badgestream/platform';
import type { IssuerReports } from './reports.js';

export type IngestOutcome =
  | { kind: 'accepted'; events: number; entities: number }
  | { kind: 'rejected'; status: 400 | 401 | 403 | 404 | 422; title: string; problems: EnvelopeProblem[]; slug?: string };

/** Kafka record headers written with every event and entity. */
export const HEADERS = {
  tenant: 'badgestream-tenant',
  eventId: 'badgestream-event-id',
  entityId: 'badgestream-entity-id',
  dataVersion: 'caliper-data-version',
  sensor: 'caliper-sensor',
  receivedAt: 'badgestream-received-at',
  /** On events a consumer reported back (`consumer` with a token, `anonymous` without): the relay never forwards these again. */
  report: 'badgestream-report',
} as const;

/**
 * The Caliper Sensor API's use case: an authenticated principal posts an envelope;
 * it is accepted whole (every event durably in Kafka) or rejected whole.
 */
export class IngestService {
  constructor(
    private readonly inspector: EnvelopeInspector,
    private readonly eventLog: EventLog,
    private readonly reports: IssuerReports,
  ) {}

  async ingest(principal: Principal, body: unknown): Promise<IngestOutcome> {
    const inspection = await this.inspector.inspect(body);
    if (!inspection.ok) return { kind: 'rejected', status: inspection.status, title: inspection.title, problems: inspection.problems };
    if (principal.scope === 'consumer') {
      const forbidden = forbiddenForConsumer(inspection.events, inspection.entities);
      if (forbidden.length > 0) return { kind: 'rejected', status: 403, title: 'This key may not post these events', problems: forbidden };
      const refused = await this.reports.check(principal.tenant, inspection.events);
      if (refused) return { kind: 'rejected', status: refused.status, ...REFUSED_REPORT[refused.status], problems: refused.problems };
      return this.publish(principal.tenant, inspection, 'consumer');
    } else if (principal.scope !== 'sensor') {
      return {
        kind: 'rejected',
        status: 403,
        title: 'This key may not post Caliper events',
        problems: [{ pointer: '', reason: `keys with scope ${principal.scope} cannot post; use a sensor or consumer key` }],
      };
    }
    const accepted = await this.publish(principal.tenant, inspection);
    // After Kafka has the events: a failure here answers 503, and the sensor's retry is a harmless duplicate.
    await this.reports.learn(principal.tenant, inspection.events, inspection.entities);
    return accepted;
  }

  /** A report without a token: accepted only for an issuer that allows anonymous Verified and Accessed reports. */
  async ingestAnonymous(body: unknown): Promise<IngestOutcome> {
    const inspection = await this.inspector.inspect(body);
    if (!inspection.ok) return { kind: 'rejected', status: inspection.status, title: inspection.title, problems: inspection.problems };
    const host = await this.reports.anonymousTenant(inspection.events, inspection.entities);
    if ('status' in host) return { kind: 'rejected', status: host.status, ...(host.status === 401 ? { title: 'A bearer token is required' } : REFUSED_REPORT[404]), problems: host.problems ?? [{ pointer: '', reason: host.reason }] };
    const refused = await this.reports.check(host.tenant, inspection.events, host.settings);
    if (refused) return { kind: 'rejected', status: refused.status, ...REFUSED_REPORT[refused.status], problems: refused.problems };
    return this.publish(host.tenant, inspection, 'anonymous');
  }

  private async publish(tenant: string, inspection: Extract<EnvelopeInspection, { ok: true }>, report?: 'consumer' | 'anonymous'): Promise<IngestOutcome> {
    const receivedAt = new Date().toISOString();
    const common = { [HEADERS.tenant]: tenant, [HEADERS.dataVersion]: inspection.dataVersion, [HEADERS.sensor]: inspection.sensor, [HEADERS.receivedAt]: receivedAt, ...(report ? { [HEADERS.report]: report } : {}) };
    const records: OutgoingRecord[] = [...inspection.events.map((e) => eventRecord(tenant, e, common)), ...inspection.entities.map((e) => entityRecord(tenant, e, common))];
    await this.eventLog.publish(records);
    return { kind: 'accepted', events: inspection.events.length, entities: inspection.entities.length };
  }
}

const REFUSED_REPORT = {
  404: { title: 'The report is about badge objects this issuer does not host', slug: 'badge-object-not-hosted' },
  422: { title: 'The report is of actions this issuer does not ask for', slug: 'action-not-advertised' },
} as const;

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
