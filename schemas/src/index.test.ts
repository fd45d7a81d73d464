import { describe, expect, it } from 'vitest';
import {
  BADGE_EVENT_SCHEMA_ID,
  CALIPER_CONTEXT_IRIS,
  ENTITY_SCHEMA_IDS,
  ENTITY_TYPES_V1P2,
  ENVELOPE_SCHEMA_ID,
  EVENT_SCHEMA_IDS,
  EVENT_TYPES_V1P2,
  loadContexts,
  loadSchemas,
} from './index.js';

describe('@badgestream/schemas', () => {
  it('loads every schema document, each under a unique $id, the entry ids included', () => {
    const ids = loadSchemas().map((schema) => schema.$id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining([ENVELOPE_SCHEMA_ID, EVENT_SCHEMA_IDS.v1p1, EVENT_SCHEMA_IDS.v1p2, ENTITY_SCHEMA_IDS.v1p1, ENTITY_SCHEMA_IDS.v1p2, BADGE_EVENT_SCHEMA_ID]),
    );
  });

  it('lists the Caliper 1.2 event and entity types from the schemas', () => {
    expect(EVENT_TYPES_V1P2).toHaveLength(22);
    expect(EVENT_TYPES_V1P2).toEqual(expect.arrayContaining(['Event', 'GradeEvent', 'ToolLaunchEvent', 'SurveyInvitationEvent']));
    expect(ENTITY_TYPES_V1P2).toEqual(expect.arrayContaining(['Person', 'Attempt', 'AggregateMeasureCollection', 'LtiSession']));
    expect(ENTITY_TYPES_V1P2).not.toContain('SystemIdentifier');
  });

  it('defines a schema for every type term of the bundled 1.2 context', () => {
    const context = loadContexts()[CALIPER_CONTEXT_IRIS.v1p2] as { '@context': Record<string, unknown> };
    const typeTerms = Object.entries(context['@context'])
      .filter(([, iri]) => typeof iri === 'string' && /^caliper:[A-Z]\w+$/.test(iri))
      .map(([term]) => term)
      .filter((term) => term !== 'Selector');
    const defined = [...EVENT_TYPES_V1P2, ...ENTITY_TYPES_V1P2, 'SystemIdentifier', 'TextPositionSelector'];
    expect(typeTerms.filter((term) => !defined.includes(term))).toEqual([]);
  });

  it('bundles the Caliper 1.1 and 1.2 contexts', () => {
    expect(Object.keys(loadContexts()).sort()).toEqual([CALIPER_CONTEXT_IRIS.v1p1, CALIPER_CONTEXT_IRIS.v1p2]);
  });
});
