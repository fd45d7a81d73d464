/**
 * Token buckets by key (a token, an address): each key may spend `limit` requests at once and
 * gets them back evenly over `windowMs`. In memory, so each instance limits on its own: the
 * limits are per instance.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private static readonly MAX_KEYS = 100_000;

  constructor(
    readonly limit: number,
    readonly windowMs: number = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from the key's bucket: 0 when allowed, else the milliseconds until one is available. */
  take(key: string): number {
    const now = this.now();
    const rate = this.limit / this.windowMs;
    const bucket = this.buckets.get(key) ?? { tokens: this.limit, at: now };
    bucket.tokens = Math.min(this.limit, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    if (this.buckets.size >= RateLimiter.MAX_KEYS && !this.buckets.has(key)) this.buckets.clear();
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / rate);
  }
}
