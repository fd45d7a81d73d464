import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type {
  Assertion,
  BadgeClass,
  BadgeEvent,
  CaliperEnvelope,
  CaliperEvent,
  Criteria,
  Entity,
  IdentityObject,
  Issuer,
  PathwayElement,
  TBAcaliperApi,
} from '../generated/types.js';

// Both src/ (tests, "source" condition) and dist/ (built) sit one level below the package root.
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA_DIR = join(PACKAGE_ROOT, 'json');
const CONTEXT_DIR = join(PACKAGE_ROOT, 'contexts');

export const SCHEMA_BASE_IRI = 'https://w3id.org/badgestream/schemas/';
export const COMMON_SCHEMA_ID = `${SCHEMA_BASE_IRI}caliper/common.schema.json`;
export const ENVELOPE_SCHEMA_ID = `${SCHEMA_BASE_IRI}caliper/envelope.schema.json`;
export const EVENT_SCHEMA_IDS = {
  v1p1: `${SCHEMA_BASE_IRI}caliper/v1p1/events.schema.json`,
  v1p2: `${SCHEMA_BASE_IRI}caliper/v1p2/events.schema.json`,
} as const satisfies Record<'v1p1' | 'v1p2', string>;
export const ENTITY_SCHEMA_IDS = {
  v1p1: `${SCHEMA_BASE_IRI}caliper/v1p1/entities.schema.json`,
  v1p2: `${SCHEMA_BASE_IRI}caliper/v1p2/entities.schema.json`,
} as const satisfies Record<'v1p1' | 'v1p2', string>;
export const BADGE_EVENT_SCHEMA_ID = `${SCHEMA_BASE_IRI}open-badges/badge-event.schema.json`;
export const CRITERIA_SCHEMA_ID = `${SCHEMA_BASE_IRI}criteria/criteria.schema.json`;

export const CALIPER_CONTEXT_IRIS = {
  v1p1: 'http://purl.imsglobal.org/ctx/caliper/v1p1',
  v1p2: 'http://purl.imsglobal.org/ctx/caliper/v1p2',
} as const satisfies Record<'v1p1' | 'v1p2', string>;

export interface SchemaDocument {
  $id: string;
  $defs?: Record<string, SchemaDefinition>;
  [keyword: string]: unknown;
}
interface SchemaDefinition {
  properties?: { type?: { const?: unknown; enum?: unknown[] } };
  [keyword: string]: unknown;
}

function listJsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listJsonFiles(path);
    return entry.name.endsWith('.json') ? [path] : [];
  });
}

let cachedSchemas: SchemaDocument[] | undefined;

/** Every schema document under schemas/json, each with its $id; parsed once per process. */
export function loadSchemas(): SchemaDocument[] {
  cachedSchemas ??= listJsonFiles(SCHEMA_DIR)
    .sort()
    .map((path) => {
      const schema = JSON.parse(readFileSync(path, 'utf8')) as SchemaDocument;
      if (typeof schema.$id !== 'string') throw new Error(`schema ${path} has no $id`);
      return schema;
    });
  return cachedSchemas;
}

function schemaById(id: string): SchemaDocument {
  const schema = loadSchemas().find((candidate) => candidate.$id === id);
  if (!schema) throw new Error(`no schema with $id ${id}`);
  return schema;
}

/** The type terms a schema document defines: every $defs entry whose `type` property is a constant. */
function definedTypeTerms(schemaId: string): string[] {
  return Object.values(schemaById(schemaId).$defs ?? {}).flatMap((definition) => {
    const term = definition.properties?.type?.const;
    return typeof term === 'string' ? [term] : [];
  });
}

function enumeratedTypeTerms(schemaId: string, definition: string): string[] {
  const terms = schemaById(schemaId).$defs?.[definition]?.properties?.type?.enum ?? [];
  return terms.filter((term): term is string => typeof term === 'string');
}

const VALUE_TYPES = new Set(['SystemIdentifier', 'TextPositionSelector']);

/** Caliper 1.2 event types, the generic Event included (BadgeEvent is the profile's). */
export const EVENT_TYPES_V1P2: readonly string[] = definedTypeTerms(EVENT_SCHEMA_IDS.v1p2);
/** Caliper 1.2 entity types that have an id; SystemIdentifier and TextPositionSelector are value types inside entities. */
export const ENTITY_TYPES_V1P2: readonly string[] = definedTypeTerms(ENTITY_SCHEMA_IDS.v1p2).filter((type) => !VALUE_TYPES.has(type));
/** The Caliper 1.2 value types that can still be validated on their own. */
export const VALUE_TYPES_V1P2: readonly string[] = [...VALUE_TYPES];
export const EVENT_TYPES_V1P1: readonly string[] = enumeratedTypeTerms(EVENT_SCHEMA_IDS.v1p1, 'Event');
export const ENTITY_TYPES_V1P1: readonly string[] = enumeratedTypeTerms(ENTITY_SCHEMA_IDS.v1p1, 'Entity');
/** The badge object types of the Open Badges profile. */
export const BADGE_ENTITY_TYPES: readonly string[] = definedTypeTerms(BADGE_EVENT_SCHEMA_ID).filter((type) => type !== 'BadgeEvent');

/** The bundled Caliper JSON-LD contexts by IRI, so that nothing is ever fetched. */
export function loadContexts(): Record<string, object> {
  return {
    [CALIPER_CONTEXT_IRIS.v1p1]: JSON.parse(readFileSync(join(CONTEXT_DIR, 'caliper-v1p1.jsonld'), 'utf8')) as object,
    [CALIPER_CONTEXT_IRIS.v1p2]: JSON.parse(readFileSync(join(CONTEXT_DIR, 'caliper-v1p2.jsonld'), 'utf8')) as object,
  };
}

/**
 * The value schema of each Kafka topic Badgestream writes (schemas/kafka/), registered in the
 * schema registry under `<topic>-value` by every service that produces to the topic.
 */
export function loadKafkaValueSchemas(): { topic: string; schema: object }[] {
  const read = (file: string) => JSON.parse(readFileSync(join(PACKAGE_ROOT, 'kafka', file), 'utf8')) as object;
  return [
    { topic: 'caliper.events', schema: read('caliper-event.value.schema.json') },
    { topic: 'caliper.entities', schema: read('caliper-entity.value.schema.json') },
  ];
}
