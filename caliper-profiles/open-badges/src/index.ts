import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** IRI of the profile's JSON-LD context (context.jsonld): BadgeEvent, OpenBadgesProfile, the badge types, actions and properties. */
export const OPEN_BADGES_CONTEXT_IRI = 'https://w3id.org/badgestream/caliper/open-badges/v1';
/** IRI of the context of the ims:TBAcaliperApi extension (tba-caliper-extension.context.jsonld). */
export const TBA_EXTENSION_CONTEXT_IRI = 'https://w3id.org/openbadges/extensions/caliper/context.json';

export const BADGE_EVENT_TYPE = 'BadgeEvent';
export const OPEN_BADGES_PROFILE = 'OpenBadgesProfile';

export const BADGE_ACTIONS = [
  'Defined',
  'Issued',
  'Demonstrated',
  'Modified',
  'Revoked',
  'Deleted',
  'Registered',
  'Verified',
  'Shared',
  'Endorsed',
  'Accessed',
  'Accepted',
  'Applied',
  'Assigned',
] as const;
export type BadgeAction = (typeof BADGE_ACTIONS)[number];

/** What consumers of a badge (verifiers, backpacks, employers) report back to the issuer's ims:TBAcaliperApi endpoint. */
export const CONSUMER_ACTIONS = ['Verified', 'Shared', 'Endorsed', 'Accessed', 'Accepted'] as const satisfies readonly BadgeAction[];

// Both src/ (tests, "source" condition) and dist/ (built) sit one level below the package root.
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, path), 'utf8'));
}

/** The profile's JSON-LD contexts by IRI, to bundle next to the Caliper contexts. */
export function loadProfileContexts(): Record<string, object> {
  return {
    [OPEN_BADGES_CONTEXT_IRI]: readJson('context.jsonld') as object,
    [TBA_EXTENSION_CONTEXT_IRI]: readJson('tba-caliper-extension.context.jsonld') as object,
  };
}

/** The worked examples, one BadgeEvent per action, by file name (e.g. "issued.json"). */
export function loadExamples(): Record<string, object> {
  const names = readdirSync(join(PACKAGE_ROOT, 'examples'))
    .filter((name) => name.endsWith('.json'))
    .sort();
  return Object.fromEntries(names.map((name) => [name, readJson(join('examples', name)) as object]));
}
