import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BADGE_ACTIONS, CONSUMER_ACTIONS, OPEN_BADGES_CONTEXT_IRI, TBA_EXTENSION_CONTEXT_IRI, loadExamples, loadProfileContexts } from './index.js';

const CALIPER_V1P2_CONTEXT = resolve(fileURLToPath(new URL('../../..', import.meta.url)), '../shared/fixtures/caliper/contexts/caliper-v1p2.jsonld');

describe('the Open Badges profile package', () => {
  const contexts = loadProfileContexts();
  const profileContext = (contexts[OPEN_BADGES_CONTEXT_IRI] as { '@context': Record<string, unknown> })['@context'];

  it('redefines no term of the Caliper 1.2 context', () => {
    const caliperTerms = Object.keys((JSON.parse(readFileSync(CALIPER_V1P2_CONTEXT, 'utf8')) as { '@context': object })['@context']);
    expect(Object.keys(profileContext).filter((term) => term !== '@version' && caliperTerms.includes(term))).toEqual([]);
  });

  it('defines the event type, the profile, the badge types and every action Caliper lacks', () => {
    const caliperTerms = Object.keys((JSON.parse(readFileSync(CALIPER_V1P2_CONTEXT, 'utf8')) as { '@context': object })['@context']);
    const needed = ['BadgeEvent', 'OpenBadgesProfile', 'Assertion', 'BadgeClass', 'Issuer', 'PathwayElement', ...BADGE_ACTIONS];
    expect(needed.filter((term) => !(term in profileContext) && !caliperTerms.includes(term))).toEqual([]);
  });

  it('bundles the ims:TBAcaliperApi extension context', () => {
    expect(contexts[TBA_EXTENSION_CONTEXT_IRI]).toHaveProperty(['@context', 'actions']);
  });

  it('has an example for every action, each using the profile context before the Caliper context', () => {
    const examples = Object.values(loadExamples()) as Array<{ action: string; '@context': unknown }>;
    expect(examples.map((example) => example.action).sort()).toEqual([...BADGE_ACTIONS].sort());
    for (const example of examples) expect(example['@context']).toEqual([OPEN_BADGES_CONTEXT_IRI, 'http://purl.imsglobal.org/ctx/caliper/v1p2']);
  });

  it('lists the consumer actions among the profile actions', () => {
    expect(CONSUMER_ACTIONS.every((action) => (BADGE_ACTIONS as readonly string[]).includes(action))).toBe(true);
  });
});
