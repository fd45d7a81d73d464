import { createHash } from 'node:crypto';

/** RFC 4122 UUID version 5 (SHA-1, name-based): the same name in the same namespace always gives the same id. */
export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
/** The namespace of every id the criteria engine derives (awards, revocations, expiries). */
export const CRITERIA_NAMESPACE = uuidV5('https://w3id.org/badgestream/criteria', URL_NAMESPACE);

/** A derived id from its parts, as a `urn:uuid:` IRI like every Caliper event id. */
export function derivedId(...parts: (string | number)[]): string {
  return `urn:uuid:${uuidV5(parts.join('\n'), CRITERIA_NAMESPACE)}`;
}
