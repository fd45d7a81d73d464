import { describe, expect, it } from 'vitest';
import type { Fact } from './facts.js';
import { answer, bucketStart, parseQuery, percentile, type InvalidQueryError } from './queries.js';
import { HOUR_MS, ReportingView } from './view.js';

const fact = (over: Partial<Fact>): Fact => ({ tenant: 't', eventId: `urn:uuid:${Math.random()}`, action: 'Issued', time: Date.parse('2026-03-02T10:00:00Z'), badgeClass: 'https://b/1', issuer: 'https://i/1', recipient: 'https://u/1', actor: 'https://app', edApp: '', badge: true, receivedAt: 0, ...over });

function errorsOf(kind: Parameters<typeof parseQuery>[0], params: Record<string, unknown>) {
  try {
    parseQuery(kind, params);
  } catch (error) {
    return (error as InvalidQueryError).errors;
  }
  return [];
}

describe('reporting queries', () => {
  it('name every parameter to change at once', () => {
    const errors = errorsOf('counts', { from: '2026-02-30', to: 'tomorrow', groupBy: 'year', tenant: 'other' });
    expect(errors.map((e) => e.pointer).sort()).toEqual(['/from', '/groupBy', '/tenant', '/to']);
    expect(errorsOf('counts', { from: '2026-01-01', to: '2026-03-01', groupBy: 'hour' })[0]!.reason).toMatch(/at most 31 days/);
    expect(errorsOf('counts', { from: '2026-01-01', to: '2026-01-02', groupBy: ['day', 'hour'] })[0]!.reason).toMatch(/once/);
    expect(parseQuery('counts', { from: '2026-01-01T05:00:00+02:00', to: '2026-01-02', groupBy: 'day' })).toMatchObject({ from: Date.parse('2026-01-01T03:00:00Z') });
  });

  it('bucket hours into days, ISO weeks starting on Monday, and months', () => {
    const hour = Date.parse('2026-03-05T13:00:00Z') / HOUR_MS;
    expect(new Date(bucketStart(hour, 'day')).toISOString()).toBe('2026-03-05T00:00:00.000Z');
    expect(new Date(bucketStart(hour, 'week')).toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(new Date(bucketStart(hour, 'month')).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(new Date(bucketStart(Date.parse('2026-03-01T23:00:00Z') / HOUR_MS, 'week')).toISOString()).toBe('2026-02-23T00:00:00.000Z');
  });

  it('answer from the view: counts, funnel with conversions, ratios, top badge classes and time to earn', () => {
    const view = new ReportingView();
    view.apply('s1', [
      fact({ action: 'Assigned', recipient: 'https://u/1', actor: 'https://u/1', time: Date.parse('2026-03-01T10:00:00Z') }),
      fact({ action: 'Assigned', recipient: 'https://u/2', actor: 'https://u/2' }),
      fact({ action: 'Issued', recipient: 'https://u/1' }),
      fact({ action: 'Shared', recipient: 'https://u/1', actor: 'https://u/1' }),
      fact({ action: 'Accessed', recipient: 'https://u/1', actor: 'https://r/1' }),
      fact({ action: 'Accessed', recipient: 'https://u/1', actor: 'https://r/2' }),
      fact({ action: 'Issued', badgeClass: 'https://b/2', recipient: 'https://u/3' }),
      fact({ action: 'Issued', badgeClass: 'https://b/2', recipient: 'https://u/4' }),
      fact({ action: 'GradeEvent:Graded', badge: false, badgeClass: '', issuer: '', recipient: 'https://u/3', time: Date.parse('2026-03-02T08:00:00Z') }),
    ]);
    expect(view.apply('s1', [fact({})])).toBe(false);
    const t = view.tenant('t');
    const range = { from: '2026-03-01', to: '2026-04-01' };
    expect(answer(t, parseQuery('counts', { ...range, groupBy: 'month', action: 'Issued' })).rows).toEqual([{ bucket: '2026-03-01T00:00:00.000Z', action: 'Issued', events: 3 }]);
    const funnel = answer(t, parseQuery('funnel', { ...range, badgeClass: 'https://b/1' })).rows;
    expect(funnel.slice(0, 5)).toEqual([
      { stage: 'Assigned', recipients: 2, conversion: null, ofFirst: null },
      { stage: 'Applied', recipients: 0, conversion: 0, ofFirst: 0 },
      { stage: 'Demonstrated', recipients: 0, conversion: null, ofFirst: 0 },
      { stage: 'Issued', recipients: 1, conversion: null, ofFirst: 0.5 },
      { stage: 'Shared', recipients: 1, conversion: 1, ofFirst: 0.5 },
    ]);
    expect(answer(t, parseQuery('ratios', range)).rows).toContainEqual({ ratio: 'viewsPerShare', numerator: 2, denominator: 1, value: 2 });
    expect(answer(t, parseQuery('top-badges', { ...range, by: 'Issued' })).rows).toEqual([
      { rank: 1, badgeClass: 'https://b/2', issuer: 'https://i/1', value: 2 },
      { rank: 2, badgeClass: 'https://b/1', issuer: 'https://i/1', value: 1 },
    ]);
    // u/1: Assigned 2026-03-01T10:00 → Issued 03-02T10:00 = 1 day; u/3: first learning event 08:00 → 10:00; u/4: no start.
    expect(answer(t, parseQuery('time-to-earn', range))).toEqual({ rows: [50, 75, 90, 95, 99].map((p) => ({ percentile: p, seconds: p <= 50 ? 7200 : 86_400 })), extra: { recipientsIssued: 3, measured: 2 } });
    expect(answer(view.tenant('other'), parseQuery('funnel', range)).rows.every((r) => r.recipients === 0)).toBe(true);
  });

  it('take nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNull();
  });
});
