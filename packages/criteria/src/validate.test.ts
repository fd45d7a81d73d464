import { describe, expect, it } from 'vitest';
import { validateCriteria } from './validate.js';

const sample = {
  badgeClass: 'https://issuer.example/badges/python-basics',
  version: 2,
  name: 'Python Basics',
  requirement: {
    all: [
      { id: 'enrolled', match: { object: { type: 'Membership' } }, latestBy: 'object.organization.id', where: [{ field: 'object.status', equals: 'Active' }] },
      { id: 'quizzes', match: { type: 'GradeEvent', action: 'Graded' }, where: [{ scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 3 },
      { id: 'final', match: { type: 'AssessmentEvent', action: 'Submitted', object: { id: 'https://lms.example/final' } } },
    ],
  },
  window: 'P90D',
  order: [['enrolled', 'final']],
  prerequisites: [{ badgeClass: 'https://issuer.example/badges/intro' }],
  penalties: [{ id: 'misconduct', match: { type: 'Event', action: 'Flagged' }, unmeets: ['final'] }],
  whenUnmet: 'revoke',
  expiresAfter: 'P365D',
};

const withChanges = (change: (doc: typeof sample & Record<string, unknown>) => void): unknown => {
  const doc = structuredClone(sample) as typeof sample & Record<string, unknown>;
  change(doc);
  return doc;
};

describe('validateCriteria', () => {
  it('accepts a complete document and returns it typed', () => {
    expect(validateCriteria(sample)).toEqual({ ok: true, criteria: sample });
  });

  it.each([
    ['an unknown field', (d: Record<string, unknown>) => (d.windows = 'P9D'), { pointer: '', reason: 'unknown field "windows"' }],
    ['no badge class', (d: Record<string, unknown>) => delete d.badgeClass, { pointer: '', reason: '"badgeClass" is required' }],
    ['a malformed duration', (d: Record<string, unknown>) => (d.window = '90 days'), { pointer: '/window', reason: 'must be an ISO 8601 duration such as P90D, P1Y, P6M or PT12H' }],
    ['a bad policy', (d: Record<string, unknown>) => (d.whenUnmet = 'delete'), { pointer: '/whenUnmet', reason: 'must be one of "revoke", "keep"' }],
    [
      'a requirement of no known shape',
      (d: typeof sample) => ((d.requirement.all as unknown[])[1] = { id: 'x', atLeast: 2 }),
      { pointer: '/requirement/all/1', reason: 'a requirement needs "match" (an event requirement), "all", "any", or "atLeast" with "of"' },
    ],
    [
      'an unknown field in an event requirement',
      (d: typeof sample) => ((d.requirement.all[1] as Record<string, unknown>).count = 3),
      { pointer: '/requirement/all/1', reason: 'unknown field "count"' },
    ],
    [
      'an empty condition on a field',
      (d: typeof sample) => (d.requirement.all[0]!.where = [{ field: 'object.status' } as never]),
      { pointer: '/requirement/all/0/where/0', reason: 'a condition on a field needs a test: equals, in, min, max, greaterThan or lessThan' },
    ],
  ])('rejects %s, naming where and why', (_name, change, problem) => {
    const result = validateCriteria(withChanges(change as (doc: Record<string, unknown>) => void));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([problem]);
  });

  it.each([
    ['duplicate ids', (d: typeof sample) => (d.penalties[0]!.id = 'quizzes'), [{ pointer: '/penalties/0/id', reason: 'the id "quizzes" is already used at /requirement/all/1' }]],
    [
      'unknown ids in order and penalties',
      (d: typeof sample) => {
        d.order = [['enroled', 'final']];
        d.penalties[0]!.unmeets = ['finale'];
      },
      [
        { pointer: '/penalties/0/unmeets/0', reason: 'no event requirement has the id "finale"' },
        { pointer: '/order/0/0', reason: 'no event requirement has the id "enroled"' },
      ],
    ],
    [
      'a circular order',
      (d: typeof sample) => (d.order = [['enrolled', 'final'], ['final', 'quizzes'], ['quizzes', 'enrolled']]),
      [{ pointer: '/order', reason: 'the order is circular: final before quizzes before enrolled before final' }],
    ],
    [
      'atLeast more than the requirements listed',
      (d: Record<string, unknown>) => (d.requirement = { atLeast: 3, of: [sample.requirement.all[0], sample.requirement.all[2]] }),
      [{ pointer: '/requirement/atLeast', reason: 'atLeast is 3 but only 2 requirements are listed: it can never be met' }],
    ],
    [
      'atLeast more than the objects listed',
      (d: Record<string, unknown>) => {
        d.requirement = { id: 'modules', match: { object: { id: ['m1', 'm2'] } }, distinct: 'object.id', atLeast: 3 };
        delete d.order;
        delete d.penalties;
      },
      [{ pointer: '/requirement/atLeast', reason: 'atLeast is 3 but only 2 objects are listed in match.object.id: it can never be met' }],
    ],
    [
      'latestBy with distinct, bounds that exclude everything, dates the wrong way round, a badge its own prerequisite',
      (d: typeof sample) => {
        Object.assign(d.requirement.all[1]!, { distinct: 'object.id' });
        d.requirement.all[1]!.where = [{ scoreRatio: { min: 0.9, max: 0.5 } } as never];
        Object.assign(d, { after: '2025-06-01T00:00:00Z', before: '2025-01-01T00:00:00Z' });
        d.prerequisites = [{ badgeClass: sample.badgeClass }];
      },
      [
        { pointer: '/requirement/all/1/distinct', reason: 'latestBy already counts distinct keys: remove distinct' },
        { pointer: '/requirement/all/1/where/0', reason: 'no value can satisfy these bounds' },
        { pointer: '/prerequisites/0/badgeClass', reason: 'a badge cannot be its own prerequisite' },
        { pointer: '/before', reason: 'before (2025-01-01T00:00:00Z) must be later than after (2025-06-01T00:00:00Z)' },
      ],
    ],
  ])('rejects %s', (_name, change, problems) => {
    const result = validateCriteria(withChanges(change as (doc: Record<string, unknown>) => void));
    expect(!result.ok && result.problems).toEqual(problems);
  });
});
