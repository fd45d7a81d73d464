import { describe, expect, it } from 'vitest';
import { checkStructure } from './structure.js';

describe('checkStructure', () => {
  it('accepts ordinary nesting', () => {
    expect(checkStructure({ a: [{ b: { c: 1 } }] }, { maxDepth: 32 })).toEqual([]);
  });

  it('rejects nesting past the limit, at the pointer where it happens, without recursing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1000; i++) deep = [deep];
    const problems = checkStructure({ data: deep }, { maxDepth: 32 });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.pointer).toBe('/data' + '/0'.repeat(31));
    expect(problems[0]!.reason).toContain('deeper than 32');
  });

  it.each(['__proto__', 'constructor', 'prototype'])('rejects the key %s wherever it is', (key) => {
    const body = JSON.parse(`{"data":[{"extensions":{"${key}":{"polluted":true}}}]}`) as unknown;
    expect(checkStructure(body, { maxDepth: 32 })).toEqual([{ pointer: `/data/0/extensions/${key}`, reason: expect.stringContaining(key) as string }]);
  });

  it('escapes pointer tokens', () => {
    const body = JSON.parse('{"a/b":{"c~d":{"__proto__":1}}}') as unknown;
    expect(checkStructure(body, { maxDepth: 32 })[0]!.pointer).toBe('/a~1b/c~0d/__proto__');
  });
});
