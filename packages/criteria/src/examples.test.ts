import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateHistory } from './history.js';
import { validateCriteria } from './validate.js';
import type { Criteria } from './types.js';

const read = (name: string) => JSON.parse(readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('the README example', () => {
  it('python-basics.json is valid criteria, and the three grades of python-basics-grades.json earn the badge with them as provenance', () => {
    const criteria = read('python-basics.json');
    expect(validateCriteria(criteria)).toEqual({ ok: true, criteria });
    const events = read('python-basics-grades.json').data as Record<string, unknown>[];
    const outcome = evaluateHistory(criteria as unknown as Criteria, events, { tenant: 'example-university', now: '2026-11-24T00:00:00.000Z' }).get('https://example.edu/users/554433');
    expect(outcome?.award?.cause).toBe(events[2]!.id);
    expect(outcome?.award?.provenance.requirements[0]!.events).toEqual(events.map((e) => e.id));
  });
});
