import { BADGE_ACTIONS, TBA_EXTENSION_CONTEXT_IRI, type BadgeAction } from '@badgestream/profile-open-badges';
import type { TBAcaliperApi } from '@badgestream/schemas';
import { entityId } from './learner.js';

/**
 * The `ims:TBAcaliperApi` extension of a BadgeClass or Issuer: where consumers report badge
 * events, and which actions the issuer wants (caliper-profiles/open-badges/README.md). Pure
 * functions: building it, reading it from badge-object JSON, and following an object to the
 * badge objects that may carry it.
 */
export const REPORTING_EXTENSION = 'ims:TBAcaliperApi';

export interface ReportingEndpoint {
  /** The Caliper endpoint (`@id`). */
  endpoint: string;
  actions: BadgeAction[];
}

export function reportingExtension(endpoint: ReportingEndpoint): TBAcaliperApi {
  return { '@context': TBA_EXTENSION_CONTEXT_IRI, '@id': endpoint.endpoint, actions: [...endpoint.actions] } as TBAcaliperApi;
}

/** A badge object's JSON with the extension set (replacing one it had); other fields untouched. */
export function withReportingExtension(badgeObject: Record<string, unknown>, endpoint: ReportingEndpoint): Record<string, unknown> {
  return { ...badgeObject, [REPORTING_EXTENSION]: reportingExtension(endpoint) };
}

export type ExtensionReading = { kind: 'absent' } | { kind: 'invalid'; reason: string } | { kind: 'found'; endpoint: ReportingEndpoint };

/** The extension of a badge object: absent, found, or present but unusable (with why). */
export function readReportingExtension(badgeObject: Record<string, unknown>): ExtensionReading {
  const value = badgeObject[REPORTING_EXTENSION];
  if (value === undefined) return { kind: 'absent' };
  const where = `${REPORTING_EXTENSION} of ${typeof badgeObject.id === 'string' ? badgeObject.id : 'the badge object'}`;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { kind: 'invalid', reason: `${where} is not a JSON object` };
  const ext = value as Record<string, unknown>;
  if (ext['@context'] !== TBA_EXTENSION_CONTEXT_IRI) return { kind: 'invalid', reason: `${where}: @context must be ${TBA_EXTENSION_CONTEXT_IRI}` };
  const endpoint = ext['@id'];
  if (typeof endpoint !== 'string') return { kind: 'invalid', reason: `${where}: @id must be the endpoint URL` };
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { kind: 'invalid', reason: `${where}: @id ${JSON.stringify(endpoint)} is not a URL` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { kind: 'invalid', reason: `${where}: @id must be an http(s) URL, got ${url.protocol}` };
  const actions = ext.actions;
  if (!Array.isArray(actions) || actions.length === 0) return { kind: 'invalid', reason: `${where}: actions must be a non-empty list` };
  const unknown = actions.filter((a) => !(BADGE_ACTIONS as readonly unknown[]).includes(a));
  if (unknown.length > 0) return { kind: 'invalid', reason: `${where}: unknown action${unknown.length > 1 ? 's' : ''} ${unknown.map((a) => JSON.stringify(a)).join(', ')}` };
  return { kind: 'found', endpoint: { endpoint, actions: [...new Set(actions as BadgeAction[])] } };
}

/** Badge object types that may be hosted and reported about. */
export const BADGE_OBJECT_TYPES = ['Assertion', 'BadgeClass', 'Issuer', 'PathwayElement'] as const;
export type BadgeObjectType = (typeof BADGE_OBJECT_TYPES)[number];

export function badgeObjectType(value: unknown): BadgeObjectType | undefined {
  const type = value && typeof value === 'object' ? (value as Record<string, unknown>).type : undefined;
  return (BADGE_OBJECT_TYPES as readonly unknown[]).includes(type) ? (type as BadgeObjectType) : undefined;
}

/**
 * Where to look next for the extension, after a badge object without one: an Assertion's
 * `badge`, a BadgeClass's `issuer`, a PathwayElement's `completionBadge` (an IRI or an embedded
 * object); an Issuer is the end.
 */
function nextReference(badgeObject: Record<string, unknown>): unknown {
  switch (badgeObject.type) {
    case 'Assertion':
      return badgeObject.badge;
    case 'BadgeClass':
      return badgeObject.issuer;
    case 'PathwayElement':
      return badgeObject.completionBadge;
    default:
      return undefined;
  }
}

/** The IRI of the badge object to look at after this one (see nextReference). */
export function nextBadgeObject(badgeObject: Record<string, unknown>): string | undefined {
  return entityId(nextReference(badgeObject));
}

/**
 * The IRIs an event's object stands for, nearest first: the object's own id, then, when it is
 * embedded, the badge object it names, and so on (at most three). A report counts for an
 * issuer hosting any of them.
 */
export function reportedObjectIris(object: unknown): string[] {
  const iris: string[] = [];
  let current: unknown = object;
  for (let depth = 0; depth < 3 && current !== undefined; depth++) {
    const id = entityId(current);
    if (id) iris.push(id);
    if (!current || typeof current !== 'object') break;
    current = nextReference(current as Record<string, unknown>);
  }
  return [...new Set(iris)];
}
