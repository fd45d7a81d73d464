import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import {
  BADGE_ENTITY_TYPES,
  BADGE_EVENT_SCHEMA_ID,
  CALIPER_CONTEXT_IRIS,
  ENTITY_SCHEMA_IDS,
  ENTITY_TYPES_V1P1,
  ENTITY_TYPES_V1P2,
  ENVELOPE_SCHEMA_ID,
  EVENT_SCHEMA_IDS,
  EVENT_TYPES_V1P1,
  EVENT_TYPES_V1P2,
  VALUE_TYPES_V1P2,
  loadSchemas,
} from '@badgestream/schemas';
import { BADGE_EVENT_TYPE } from '@badgestream/profile-open-badges';

export type DataVersion = 'v1p1' | 'v1p2';
/** One problem with a value: where (a JSON pointer relative to the validated value) and why, in plain English. */
export interface SchemaIssue {
  pointer: string;
  reason: string;
}
export interface SchemaValidator {
  /** The envelope's own fields (sensor, sendTime, dataVersion, data as a non-empty array of objects); not the items. */
  envelope(value: unknown): SchemaIssue[];
  /** A top-level event, BadgeEvent included. */
  event(value: unknown, version: DataVersion): SchemaIssue[];
  /** A top-level entity describe. */
  entity(value: unknown, version: DataVersion): SchemaIssue[];
}

type ValidatorsByType = ReadonlyMap<string, ValidateFunction>;

const BADGE_EVENT_TYPES = new Set([BADGE_EVENT_TYPE]);

/** True for the event types of the version, BadgeEvent included. */
export function isEventType(type: unknown, version: DataVersion): boolean {
  if (typeof type !== 'string') return false;
  return BADGE_EVENT_TYPES.has(type) || (version === 'v1p2' ? EVENT_TYPES_V1P2 : EVENT_TYPES_V1P1).includes(type);
}

/**
 * Compiles every schema once. Events and entities are dispatched on their `type` to a validator
 * compiled for that type alone, which is faster and reports far clearer errors than a oneOf
 * over all types.
 */
export function createSchemaValidator(): SchemaValidator {
  const ajv = new Ajv2020({
    allErrors: true,
    // parentSchema and data on errors, to phrase reasons; only costs anything on failure.
    verbose: true,
    // Nested entities are dispatched on their type through ajv's discriminator (an O(1) lookup).
    discriminator: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    // tsType is read by the type generator, not by validation.
    keywords: ['tsType'],
  });
  ajv.addFormat('date-time', fullFormats['date-time']);
  for (const schema of loadSchemas()) ajv.addSchema(schema);

  const compileRef = (ref: string): ValidateFunction => ajv.compile({ $ref: ref });
  const compileTopLevel = (topLevelRef: string, ref: string): ValidateFunction =>
    ajv.compile({ allOf: [{ $ref: topLevelRef }, { $ref: ref }] });

  const badgeEvent = compileRef(`${BADGE_EVENT_SCHEMA_ID}#/$defs/BadgeEvent`);
  const badgeEntities = BADGE_ENTITY_TYPES.map(
    (type) => [type, compileTopLevel(`${BADGE_EVENT_SCHEMA_ID}#/$defs/TopLevel`, `${BADGE_EVENT_SCHEMA_ID}#/$defs/${type}`)] as const,
  );
  const v1p1Event = compileRef(`${EVENT_SCHEMA_IDS.v1p1}#/$defs/Event`);
  const v1p1Entity = compileTopLevel(`${ENTITY_SCHEMA_IDS.v1p1}#/$defs/TopLevel`, `${ENTITY_SCHEMA_IDS.v1p1}#/$defs/Entity`);

  const events: Record<DataVersion, ValidatorsByType> = {
    v1p2: new Map([
      ...EVENT_TYPES_V1P2.map((type) => [type, compileRef(`${EVENT_SCHEMA_IDS.v1p2}#/$defs/${type}`)] as const),
      [BADGE_EVENT_TYPE, badgeEvent],
    ]),
    v1p1: new Map([...EVENT_TYPES_V1P1.map((type) => [type, v1p1Event] as const), [BADGE_EVENT_TYPE, badgeEvent]]),
  };
  const entities: Record<DataVersion, ValidatorsByType> = {
    v1p2: new Map([
      ...ENTITY_TYPES_V1P2.map(
        (type) => [type, compileTopLevel(`${ENTITY_SCHEMA_IDS.v1p2}#/$defs/TopLevel`, `${ENTITY_SCHEMA_IDS.v1p2}#/$defs/${type}`)] as const,
      ),
      // Value types have no @context requirement of their own: they are validated as they are.
      ...VALUE_TYPES_V1P2.map((type) => [type, compileRef(`${ENTITY_SCHEMA_IDS.v1p2}#/$defs/${type}`)] as const),
      ...badgeEntities,
    ]),
    v1p1: new Map([...ENTITY_TYPES_V1P1.map((type) => [type, v1p1Entity] as const), ...badgeEntities]),
  };
  const envelope = compileRef(ENVELOPE_SCHEMA_ID);

  function validateByType(value: unknown, version: DataVersion, validators: ValidatorsByType, kind: 'event' | 'entity'): SchemaIssue[] {
    if (!isPlainObject(value)) return [{ pointer: '', reason: `an ${kind} must be a JSON object; got ${describe(value)}` }];
    const type = value.type;
    if (type === undefined) return [{ pointer: '/type', reason: `type is required: every ${kind} names its type` }];
    if (typeof type !== 'string') return [{ pointer: '/type', reason: `type must be a string naming the ${kind} type; got ${describe(type)}` }];
    const validate = validators.get(type);
    if (!validate) {
      return [{ pointer: '/type', reason: `type "${type}" is not a known Caliper ${version} ${kind} type (${[...validators.keys()].join(', ')})` }];
    }
    const issues = validate(value) ? [] : toIssues(validate.errors ?? [], value);
    return [...issues, ...contextOrderIssues(value, version)];
  }

  return {
    envelope(value) {
      if (!isPlainObject(value)) return [{ pointer: '', reason: `the envelope must be a JSON object; got ${describe(value)}` }];
      return envelope(value) ? [] : toIssues(envelope.errors ?? [], value);
    },
    event: (value, version) => validateByType(value, version, events[version], 'event'),
    entity: (value, version) => validateByType(value, version, entities[version], 'entity'),
  };
}

/** JSON Schema cannot say "the last item": the Caliper context must come last so that its terms win. */
function contextOrderIssues(value: Record<string, unknown>, version: DataVersion): SchemaIssue[] {
  const context = value['@context'];
  if (!Array.isArray(context) || context.length === 0) return [];
  const caliperContext = CALIPER_CONTEXT_IRIS[version];
  if (context.at(-1) === caliperContext || !context.includes(caliperContext)) return [];
  return [{ pointer: '/@context', reason: `@context must list the Caliper context ${caliperContext} last, so no other context can redefine its terms` }];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  return `${typeof value} ${String(value)}`;
}

/** "/object/items/0/type" → "object.items[0].type", the way a sensor developer names a field. */
function fieldName(pointer: string): string {
  if (pointer === '') return 'the value';
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((name, segment) => (/^\d+$/.test(segment) ? `${name}[${segment}]` : name ? `${name}.${segment}` : segment), '');
}

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
};

/** What a failed pattern or format means, by the schema definition it belongs to. */
function expectedShape(error: ErrorObject): string | undefined {
  const definition = /\$defs\/(\w+)\/(?:pattern|format)$/.exec(error.schemaPath)?.[1];
  switch (definition ?? error.params.format) {
    case 'IRI':
      return 'an absolute IRI such as https://example.edu/users/554433';
    case 'UuidUrn':
      return 'a UUID URN such as urn:uuid:ff9ec22a-fc59-4ae1-ae8d-2c9463ee2f8f';
    case 'Duration':
      return 'an ISO 8601 duration such as PT1H30M';
    case 'DateTime':
    case 'date-time':
      return 'an ISO 8601 UTC date-time such as 2024-05-01T10:15:00.000Z';
    default:
      return undefined;
  }
}

function listOf(values: readonly unknown[]): string {
  return values.map((value) => String(value)).join(', ');
}

/** One plain-English reason for one ajv error, or undefined for the bookkeeping errors of if/oneOf. */
function reasonFor(error: ErrorObject, root: Record<string, unknown>, entityValued: ReadonlySet<string>): SchemaIssue | undefined {
  const pointer = error.instancePath;
  const field = fieldName(pointer);
  const got = describe(error.data);
  // Only the per-action rules of BadgeEvent explain themselves; other descriptions document the schema, not the error.
  const ruleDescription = /\/allOf\/\d+\/then\//.test(error.schemaPath) ? error.parentSchema?.description : undefined;
  const why = typeof ruleDescription === 'string' ? ` (${ruleDescription})` : '';
  const entityOrIri = entityValued.has(pointer);
  switch (error.keyword) {
    case 'required': {
      const missing = String(error.params.missingProperty);
      return { pointer: `${pointer}/${missing}`, reason: `${fieldName(`${pointer}/${missing}`)} is required${why}` };
    }
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const extra = String(error.params.additionalProperty ?? error.params.unevaluatedProperty);
      return {
        pointer: `${pointer}/${extra}`,
        reason: `${fieldName(`${pointer}/${extra}`)} is not a property of ${pointer === '' ? String(root.type ?? 'this object') : field}; custom data belongs in extensions`,
      };
    }
    case 'type': {
      const expected = String(error.params.type)
        .split(',')
        .map((type) => TYPE_NAMES[type] ?? type)
        .join(' or ');
      return { pointer, reason: `${field} must be ${entityOrIri ? 'an embedded entity object or an IRI' : expected}; got ${got}${why}` };
    }
    case 'enum': {
      const allowed = error.params.allowedValues as unknown[];
      if (pointer === '/action') {
        return { pointer, reason: `action must be one of the actions of ${String(root.type)}: ${listOf(allowed)}; got ${got}` };
      }
      if (pointer.endsWith('/type')) {
        return { pointer, reason: `${field} must be one of the entity types allowed here: ${listOf(allowed)}; got ${got}${why}` };
      }
      return { pointer, reason: `${field} must be one of ${listOf(allowed)}; got ${got}` };
    }
    case 'const':
      return { pointer, reason: `${field} must be ${JSON.stringify(error.params.allowedValue)}; got ${got}${why}` };
    case 'pattern':
    case 'format':
      return {
        pointer,
        reason: entityOrIri
          ? `${field} must be an embedded entity object or an absolute IRI; got ${got}`
          : `${field} must be ${expectedShape(error) ?? `in the format ${String(error.params.format ?? error.params.pattern)}`}; got ${got}`,
      };
    case 'discriminator':
      return error.params.error === 'mapping'
        ? { pointer: `${pointer}/type`, reason: `${fieldName(`${pointer}/type`)} "${String(error.params.tagValue)}" is not a known entity type` }
        : { pointer: `${pointer}/type`, reason: `${fieldName(`${pointer}/type`)} must be a string naming the entity type; got ${describe(error.params.tagValue)}` };
    case 'minItems':
      return { pointer, reason: `${field} must have at least ${String(error.params.limit)} item(s)` };
    case 'minimum':
      return { pointer, reason: `${field} must be ${String(error.params.limit)} or more; got ${got}` };
    case 'uniqueItems':
      return { pointer, reason: `${field} must not repeat items` };
    case 'contains':
      return pointer.endsWith('@context')
        ? { pointer, reason: `${field} must include the Caliper context${why}` }
        : { pointer, reason: `${field} is missing a required item${why}` };
    case 'if':
    case 'oneOf':
    case 'anyOf':
    case 'allOf':
      return undefined;
    default:
      return { pointer, reason: `${field} ${error.message ?? 'is invalid'}` };
  }
}

/**
 * Fields that take "an IRI or an embedded object": their schemas branch with if/then/else on the
 * value being a string, and carry a tsType for the generated union type.
 */
function entityValuedPointers(errors: readonly ErrorObject[]): Set<string> {
  return new Set(errors.filter((error) => error.keyword === 'if' && typeof error.parentSchema?.tsType === 'string').map((error) => error.instancePath));
}

/** One issue per failing field: ajv reports a field once per schema that checks it, and the first reason is the most specific. */
function toIssues(errors: readonly ErrorObject[], root: Record<string, unknown>): SchemaIssue[] {
  const entityValued = entityValuedPointers(errors);
  const byPointer = new Map<string, SchemaIssue>();
  for (const error of errors) {
    const issue = reasonFor(error, root, entityValued);
    if (issue && !byPointer.has(issue.pointer)) byPointer.set(issue.pointer, issue);
  }
  return [...byPointer.values()];
}
