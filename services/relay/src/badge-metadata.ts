import { entityId, nextBadgeObject, readReportingExtension, type ReportingEndpoint } from '@badgestream/caliper';
import { BlockedDestinationError, OversizeAnswerError, classifyStatus, destinationRefusal, outboundRequest, type DestinationPolicy } from '@badgestream/platform';

/** Where an event about a badge object should be reported, if anywhere. */
export type Resolution =
  /** The object (or its badge class, or its issuer) advertises this endpoint. */
  | { kind: 'endpoint'; endpoint: ReportingEndpoint; advertisedBy: string }
  /** Nothing is advertised: the event is not relayed. */
  | { kind: 'none'; reason: string }
  /** The metadata cannot ever be used as it is (private address, too large, not JSON…). */
  | { kind: 'refused'; reason: string; endpoint?: string }
  /** The badge host failed in a way worth trying again (timeout, 5xx). */
  | { kind: 'retry'; reason: string };

type Fetched = { ok: true; object: Record<string, unknown> } | { ok: false; permanent: boolean; reason: string };

export interface BadgeMetadataOptions {
  timeoutMs: number;
  maxBytes: number;
  cacheTtlMs: number;
  cacheMaxEntries: number;
  destinations: DestinationPolicy;
  now?: () => number;
}

const JSON_TYPES = /^application\/(?:(?:ld\+)?json|[a-z0-9.+-]+\+json)$/;
/** An Assertion names its BadgeClass, which names its Issuer: at most three objects to read. */
const MAX_HOPS = 3;

/**
 * Reads what badge objects hosted elsewhere advertise: fetches each object by its IRI (GET,
 * with a timeout, a size limit, a JSON content type, no redirects, no private addresses),
 * checks that the object is the one asked for, and follows Assertion → BadgeClass → Issuer until
 * one carries ims:TBAcaliperApi. Objects are cached (failures that may pass are not).
 */
export class BadgeMetadata {
  private readonly cache = new Map<string, { expires: number; fetched: Fetched }>();
  private readonly inFlight = new Map<string, Promise<Fetched>>();
  private readonly now: () => number;

  constructor(private readonly options: BadgeMetadataOptions) {
    this.now = options.now ?? Date.now;
  }

  async resolve(object: unknown): Promise<Resolution> {
    let iri = entityId(object);
    if (!iri) return { kind: 'none', reason: 'the event names no badge object IRI' };
    const seen: string[] = [];
    for (let hop = 0; hop < MAX_HOPS && iri && !seen.includes(iri); hop++) {
      seen.push(iri);
      const fetched = await this.fetch(iri);
      if (!fetched.ok) return fetched.permanent ? { kind: 'refused', reason: fetched.reason } : { kind: 'retry', reason: fetched.reason };
      const reading = readReportingExtension(fetched.object);
      if (reading.kind === 'invalid') return { kind: 'refused', reason: reading.reason };
      if (reading.kind === 'found') {
        const refusal = destinationRefusal(reading.endpoint.endpoint, this.options.destinations);
        if (refusal) return { kind: 'refused', reason: `${iri} advertises ${reading.endpoint.endpoint}: ${refusal}`, endpoint: reading.endpoint.endpoint };
        return { kind: 'endpoint', endpoint: reading.endpoint, advertisedBy: iri };
      }
      iri = nextBadgeObject(fetched.object);
    }
    return { kind: 'none', reason: `no ims:TBAcaliperApi in ${seen.join(' → ')}` };
  }

  private async fetch(iri: string): Promise<Fetched> {
    const now = this.now();
    const hit = this.cache.get(iri);
    if (hit && hit.expires > now) return hit.fetched;
    let pending = this.inFlight.get(iri);
    if (!pending) {
      pending = this.download(iri).finally(() => this.inFlight.delete(iri));
      this.inFlight.set(iri, pending);
    }
    const fetched = await pending;
    if (fetched.ok || fetched.permanent) {
      if (this.cache.size >= this.options.cacheMaxEntries) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(iri, { expires: this.now() + this.options.cacheTtlMs, fetched });
    }
    return fetched;
  }

  private async download(iri: string): Promise<Fetched> {
    const refusal = destinationRefusal(iri, this.options.destinations);
    if (refusal) return { ok: false, permanent: true, reason: `badge object ${iri}: ${refusal}` };
    try {
      const answer = await outboundRequest({
        method: 'GET',
        url: iri,
        headers: { accept: 'application/ld+json, application/json', 'user-agent': 'Badgestream-Relay/1' },
        timeoutMs: this.options.timeoutMs,
        maxBytes: this.options.maxBytes,
        oversize: 'fail',
        destinations: this.options.destinations,
      });
      const outcome = classifyStatus(answer.status);
      if (outcome !== 'delivered') return { ok: false, permanent: outcome === 'failed', reason: `fetching badge object ${iri} answered HTTP ${answer.status}` };
      const type = (answer.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!JSON_TYPES.test(type)) return { ok: false, permanent: true, reason: `badge object ${iri} is served as ${JSON.stringify(type || '(no content type)')}, not JSON` };
      let object: unknown;
      try {
        object = JSON.parse(answer.body.toString('utf8'));
      } catch (error) {
        return { ok: false, permanent: true, reason: `badge object ${iri} is not valid JSON: ${(error as Error).message}` };
      }
      if (!object || typeof object !== 'object' || Array.isArray(object)) return { ok: false, permanent: true, reason: `badge object ${iri} is not a JSON object` };
      const id = (object as Record<string, unknown>).id;
      if (id !== iri) return { ok: false, permanent: true, reason: `the object at ${iri} names itself ${JSON.stringify(id ?? null)}: a hosted badge object's id is its own IRI` };
      return { ok: true, object: object as Record<string, unknown> };
    } catch (error) {
      const permanent = error instanceof BlockedDestinationError || error instanceof OversizeAnswerError;
      return { ok: false, permanent, reason: permanent ? `badge object ${iri}: ${(error as Error).message}` : `fetching badge object ${iri} failed: ${(error as Error).message}` };
    }
  }
}
