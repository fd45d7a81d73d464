import { describe, expect, it } from 'vitest';
import { evaluateHistory, validateCriteria } from '@badgestream/criteria';
import { consumerReports, courseStory } from './demo-story.js';

const now = new Date('2026-03-21T15:42:00.000Z');
const story = courseStory({ tenant: 'demo-university', hostedBase: 'http://127.0.0.1:8080', now });
const events = story.envelopes.flat().map((e) => e.event);

describe('the demo story', () => {
  it('has valid criteria for a badge class hosted by the tenant', () => {
    expect(validateCriteria(story.criteria)).toEqual({ ok: true, criteria: story.criteria });
    expect(story.criteria.badgeClass).toBe('http://127.0.0.1:8080/hosted/demo-university/badges/data-analysis-foundations');
    expect(story.badgeClass.issuer).toBe(story.issuer.id);
  });

  it('brings every learner to the outcome it promises: four earn, the regraded one loses the badge, the one who drops out earns nothing', () => {
    const outcomes = evaluateHistory(story.criteria, events, { tenant: 'demo-university', now: now.toISOString() });
    const got = story.learners.map((l) => {
      const o = outcomes.get(l.iri)!;
      return { name: l.name, awards: o.progress.awards.length, held: o.award !== null, ended: o.progress.awards.map((a) => a.ended?.how ?? 'held') };
    });
    expect(got).toEqual([
      { name: 'Amara Okafor', awards: 1, held: true, ended: ['held'] },
      { name: 'Bruno Silva', awards: 1, held: true, ended: ['held'] },
      { name: 'Chen Wei', awards: 1, held: true, ended: ['held'] },
      { name: 'Dana Kowalski', awards: 1, held: false, ended: ['revoked'] },
      { name: 'Elif Yilmaz', awards: 1, held: true, ended: ['held'] },
      { name: 'Farid Haddad', awards: 0, held: false, ended: [] },
    ]);
    expect(story.learners.map((l) => l.outcome)).toEqual(['earned', 'earned', 'earned', 'revoked', 'earned', 'unenrolled']);
  });

  it('happens in the past, in order: envelopes by day, every event before now', () => {
    const times = events.map((e) => Date.parse(e.eventTime));
    expect(Math.max(...times)).toBeLessThan(now.getTime());
    const firstOfEach = story.envelopes.map((batch) => Date.parse(batch[0]!.event.eventTime));
    expect(firstOfEach).toEqual([...firstOfEach].sort((a, b) => a - b));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('has holders but one share their badge, and each shared badge verified after it was shared and before now', () => {
    const held = story.learners
      .filter((l) => l.outcome === 'earned')
      .map((l, i) => ({ learner: l.iri, assertion: `urn:uuid:00000000-0000-4000-8000-00000000000${i}`, issuedOn: '2026-03-17T14:00:00.000Z' }));
    const { shared, verified } = consumerReports(story, held, now);
    expect(shared.map((s) => (s.event.actor as { name: string }).name)).toEqual(['Amara Okafor', 'Chen Wei', 'Elif Yilmaz']);
    expect(verified).toHaveLength(3);
    shared.forEach((s, i) => {
      const v = verified[i]!;
      expect(v.event.object).toEqual(s.event.object);
      expect(Date.parse(s.event.eventTime)).toBeGreaterThan(Date.parse('2026-03-17T14:00:00.000Z'));
      expect(Date.parse(v.event.eventTime)).toBeGreaterThan(Date.parse(s.event.eventTime));
      expect(Date.parse(v.event.eventTime)).toBeLessThan(now.getTime());
    });
  });
});
