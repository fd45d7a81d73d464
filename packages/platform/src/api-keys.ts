import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tokens look like `bgs_<keyId>_<secret>`. The key id finds the record; only a
 * SHA-256 of the secret is stored, compared in constant time. Secrets carry 256
 * bits of randomness, so a fast hash is the right tool (no password stretching needed).
 */
const TOKEN_PATTERN = /^bgs_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  keyId: string;
  token: string;
  secretHash: string;
}

export function mintToken(): MintedToken {
  const keyId = randomBytes(10).toString('hex').slice(0, 16);
  const secret = randomBytes(32).toString('base64url');
  return { keyId, token: `bgs_${keyId}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(token: string): { keyId: string; secret: string } | undefined {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return undefined;
  return { keyId: match[1]!, secret: match[2]! };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

const TENANT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function tenantNameProblem(name: string): string | undefined {
  if (!TENANT_NAME.test(name)) {
    return `tenant name ${JSON.stringify(name)} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`;
  }
  return undefined;
}
