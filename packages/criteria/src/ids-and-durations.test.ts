import { describe, expect, it } from 'vitest';
import { addDuration, parseDuration } from './duration.js';
import { uuidV5 } from './uuid.js';

describe('uuidV5', () => {
  it('gives the RFC 4122 version 5 UUID (as the uuid package does)', () => {
    expect(uuidV5('hello', '6ba7b811-9dad-11d1-80b4-00c04fd430c8')).toBe('074171de-bc84-5ea4-b636-1135477620e1');
  });
});

describe('durations', () => {
  it('adds ISO 8601 durations on the UTC calendar', () => {
    const start = Date.parse('2025-01-31T12:00:00Z');
    expect(new Date(addDuration(start, parseDuration('P90D')!)).toISOString()).toBe('2025-05-01T12:00:00.000Z');
    expect(new Date(addDuration(start, parseDuration('P1Y2W')!)).toISOString()).toBe('2026-02-14T12:00:00.000Z');
    expect(new Date(addDuration(start, parseDuration('P1DT12H30M')!)).toISOString()).toBe('2025-02-02T00:30:00.000Z');
  });

  it('rejects what is not one', () => {
    expect(['P', 'PT', '90D', 'P1.5D', 'P1DT'].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
