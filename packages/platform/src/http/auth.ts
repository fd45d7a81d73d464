import { createHash } from 'node:crypto';
import type { Principal, TenantDirectory } from '../ports.js';

/**
 * Resolves bearer tokens through the tenant directory, remembering answers for a
 * short while so that the hot path does not hit MongoDB per request. A revoked key
 * stops working within the TTL.
 */
export class CachedAuthenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; expires: number }>();
  private static readonly MAX_ENTRIES = 10_000;

  constructor(
    private readonly directory: TenantDirectory,
    private readonly ttlMs: number,
  ) {}

  async authenticate(token: string): Promise<Principal | undefined> {
    if (this.ttlMs === 0) return this.directory.authenticate(token);
    const key = createHash('sha256').update(token).digest('base64');
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return hit.principal;
    const principal = await this.directory.authenticate(token);
    if (this.cache.size >= CachedAuthenticator.MAX_ENTRIES) this.cache.clear();
    this.cache.set(key, { principal, expires: now + this.ttlMs });
    return principal;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
  return match?.[1];
}
