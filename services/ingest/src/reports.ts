import { badgeObjectType, entityId, joinPointer, reportedObjectIris, withReportingExtension, type AcceptedEntity, type AcceptedEvent, type EnvelopeProblem } from '@badgestream/caliper';
import { BADGE_EVENT_TYPE } from '@badgestream/profile-open-badges';
import {
  ANONYMOUS_ACTIONS,
  type HostedBadgeObject,
  type MongoHostedBadgeObjects,
  type MongoReportingSettings,
  type ReportingSettings,
} from '@badgestream/platform';

/**
 * The issuer's end of the report-back loop: which badge objects a tenant hosts (from its
 * sensors' `Defined`/`Modified`/`Deleted` events and entity describes), how they are advertised
 * (decorated with ims:TBAcaliperApi pointing at this deployment's /caliper), and whether a
 * consumer's report counts (only advertised actions, only about hosted badge objects).
 */
export class IssuerReports {
  constructor(
    private readonly hosted: MongoHostedBadgeObjects,
    private readonly settings: MongoReportingSettings,
    /** This deployment's Caliper endpoint, as consumers reach it. */
    readonly caliperEndpoint: () => string,
  ) {}

  /** A hosted object's JSON with its tenant's reporting extension (what consumers should fetch). */
  async decorate(hosted: HostedBadgeObject): Promise<Record<string, unknown>> {
    const settings = await this.settings.get(hosted.tenant);
    return withReportingExtension(hosted.object, { endpoint: this.caliperEndpoint(), actions: settings.actions });
  }

  /** Learns the badge objects a sensor of the tenant defined, modified, deleted or described. */
  async learn(tenant: string, events: readonly AcceptedEvent[], entities: readonly AcceptedEntity[]): Promise<void> {
    const described: Record<string, unknown>[] = [];
    const deleted: string[] = [];
    for (const e of events) {
      if (e.type !== BADGE_EVENT_TYPE) continue;
      const object = (e.event as Record<string, unknown>).object;
      if (e.action === 'Deleted') {
        const iri = entityId(object);
        if (iri) deleted.push(iri);
      } else if ((e.action === 'Defined' || e.action === 'Modified') && badgeObjectType(object) && typeof (object as Record<string, unknown>).id === 'string') {
        described.push(object as Record<string, unknown>);
      }
    }
    const entityObjects = entities.filter((e) => badgeObjectType(e.entity)).map((e) => e.entity as Record<string, unknown>);
    await this.hosted.record(tenant, described, 'event');
    await this.hosted.record(tenant, entityObjects, 'entity');
    await this.hosted.remove(tenant, deleted);
  }

  /**
   * Why a consumer's report does not count for the tenant, per event: 404 for an object the
   * tenant does not host, 422 for an action it does not ask for. Empty when every event counts.
   */
  async check(tenant: string, events: readonly AcceptedEvent[], settings?: ReportingSettings): Promise<{ status: 404 | 422; problems: EnvelopeProblem[] } | undefined> {
    const wanted = settings ?? (await this.settings.get(tenant));
    const iris = events.map((e) => reportedObjectIris((e.event as Record<string, unknown>).object));
    const hosted = await this.hosted.hostedBy(tenant, [...new Set(iris.flat())]);
    const problems: EnvelopeProblem[] = [];
    let notHosted = 0;
    events.forEach((e, i) => {
      const candidates = iris[i]!;
      if (!candidates.some((iri) => hosted.has(iri))) {
        notHosted++;
        problems.push({
          index: e.index,
          pointer: joinPointer('/data', e.index, 'object'),
          reason: candidates.length === 0 ? 'the object has no id: name the badge object by its hosted IRI' : `${candidates[0]} is not a badge object hosted by this issuer${candidates.length > 1 ? ` (nor is ${candidates.slice(1).join(' or ')})` : ''}`,
        });
      } else if (!(wanted.actions as string[]).includes(e.action)) {
        problems.push({ index: e.index, pointer: joinPointer('/data', e.index, 'action'), reason: `this issuer does not ask for ${e.action} reports; its badge objects advertise ${wanted.actions.join(', ')}` });
      }
    });
    if (problems.length === 0) return undefined;
    return { status: notHosted === problems.length ? 404 : 422, problems };
  }

  /**
   * The tenant an anonymous report is for, or why it is not accepted. Anonymous reports carry
   * only Verified and Accessed badge events about objects of one issuer that allows them.
   */
  async anonymousTenant(events: readonly AcceptedEvent[], entities: readonly AcceptedEntity[]): Promise<{ tenant: string; settings: ReportingSettings } | { status: 401 | 404; reason: string; problems?: EnvelopeProblem[] }> {
    const allowed = ANONYMOUS_ACTIONS as readonly string[];
    if (entities.length > 0 || events.some((e) => e.type !== BADGE_EVENT_TYPE || !allowed.includes(e.action))) {
      return { status: 401, reason: `without a token only ${BADGE_EVENT_TYPE} reports of ${allowed.join(' and ')} are accepted, where the issuer allows them; send Authorization: Bearer <token> (consumers register with POST /caliper/consumers)` };
    }
    const iris = events.map((e) => reportedObjectIris((e.event as Record<string, unknown>).object));
    const hosts = await this.hosted.hostsOf([...new Set(iris.flat())]);
    const tenants = new Set<string>();
    const problems: EnvelopeProblem[] = [];
    events.forEach((e, i) => {
      const tenant = iris[i]!.map((iri) => hosts.get(iri)).find((t) => t !== undefined);
      if (tenant) tenants.add(tenant);
      else problems.push({ index: e.index, pointer: joinPointer('/data', e.index, 'object'), reason: `${iris[i]![0] ?? 'the object'} is not a badge object hosted here` });
    });
    if (problems.length > 0) return { status: 404, reason: 'the report is about badge objects not hosted here', problems };
    if (tenants.size > 1) return { status: 401, reason: 'an anonymous envelope must be about the badge objects of one issuer; send one envelope per issuer' };
    const tenant = [...tenants][0]!;
    const settings = await this.settings.get(tenant);
    if (!settings.anonymous) return { status: 401, reason: 'the issuer of these badge objects accepts reports only with a token; register with POST /caliper/consumers and send Authorization: Bearer <token>' };
    return { tenant, settings };
  }

  /** The tenant hosting a badge object, for a consumer registering to report about it. */
  async hostOf(iri: string): Promise<string | undefined> {
    return (await this.hosted.get(iri))?.tenant;
  }
}
