import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CALIPER_CONTEXTS, ContextChecker } from './contexts.js';

const fixtures = path.resolve(fileURLToPath(import.meta.url), '../../../../../shared/fixtures/caliper');
const readJson = (file: string) => JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')) as Record<string, unknown>;

const checker = new ContextChecker({
  [CALIPER_CONTEXTS.v1p1]: readJson('contexts/caliper-v1p1.jsonld'),
  [CALIPER_CONTEXTS.v1p2]: readJson('contexts/caliper-v1p2.jsonld'),
});

describe('ContextChecker', () => {
  it('accepts the plain Caliper context', async () => {
    expect(await checker.check(CALIPER_CONTEXTS.v1p2, 'v1p2', '/data/0')).toEqual([]);
  });

  it('accepts extra terms before the Caliper context (the spec example)', async () => {
    const event = readJson('v1p2/caliperEnvelopeEventContextArray.json');
    const context = (event.data as Record<string, unknown>[])[0]!['@context'];
    expect(await checker.check(context, 'v1p2', '/data/0')).toEqual([]);
  });

  it('accepts an inline context that binds Caliper terms to their Caliper IRIs', async () => {
    const event = readJson('v1p2/caliperEventMessagePostedInlineContext.json');
    expect(await checker.check(event['@context'], 'v1p2', '/data/0')).toEqual([]);
  });

  it('names a remote context that is not bundled, and never fetches it', async () => {
    const problems = await checker.check(['https://contexts.example.org/custom.jsonld', CALIPER_CONTEXTS.v1p2], 'v1p2', '/data/3');
    expect(problems).toEqual([{ pointer: '/data/3/@context', reason: expect.stringContaining('"https://contexts.example.org/custom.jsonld"') as string }]);
  });

  it('names a remote context referenced from inside an inline context', async () => {
    const problems = await checker.check([{ '@import': 'https://contexts.example.org/imported.jsonld', '@version': 1.1 }, CALIPER_CONTEXTS.v1p2], 'v1p2', '/data/0');
    expect(problems[0]?.reason).toContain('https://contexts.example.org/imported.jsonld');
  });

  it('rejects a context that binds a Caliper term to another IRI', async () => {
    const problems = await checker.check([CALIPER_CONTEXTS.v1p2, { actor: 'https://evil.example/actor' }], 'v1p2', '/data/1');
    expect(problems).toEqual([{ pointer: '/data/1/@context', reason: expect.stringContaining('"actor"') as string }]);
  });

  it('judges the effective context: terms placed before the Caliper context are overridden by it', async () => {
    expect(await checker.check([{ actor: 'https://evil.example/actor' }, CALIPER_CONTEXTS.v1p2], 'v1p2', '/data/1')).toEqual([]);
  });

  it('never runs jsonld for the plain Caliper context, and runs it once per other context', async () => {
    const fresh = new ContextChecker({
      [CALIPER_CONTEXTS.v1p1]: readJson('contexts/caliper-v1p1.jsonld'),
      [CALIPER_CONTEXTS.v1p2]: readJson('contexts/caliper-v1p2.jsonld'),
    });
    for (let i = 0; i < 1000; i++) await fresh.check(CALIPER_CONTEXTS.v1p2, 'v1p2', '/data/0');
    expect(fresh.processedContexts).toBe(0);
    const custom = [{ query: 'http://schema.org/query' }, CALIPER_CONTEXTS.v1p2];
    for (let i = 0; i < 100; i++) expect(await fresh.check(custom, 'v1p2', '/data/0')).toEqual([]);
    // The custom context once, and the Caliper context once to know its terms.
    expect(fresh.processedContexts).toBe(2);
  });

  it('rejects a context that is not JSON-LD', async () => {
    const problems = await checker.check([42, CALIPER_CONTEXTS.v1p2], 'v1p2', '/data/0');
    expect(problems[0]?.reason).toContain('not a valid JSON-LD context');
  });
});
