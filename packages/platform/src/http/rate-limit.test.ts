import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

describe('rate limits', () => {
  it('allow a burst of the limit, refuse the next with the wait, and refill over the window', () => {
    let now = 0;
    const limiter = new RateLimiter(3, 60_000, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(20_000);
    expect(limiter.take('b')).toBe(0);
    now = 20_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });
});
