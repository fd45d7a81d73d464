import type { Fact } from './facts.js';

/**
 * How the facts of one slice are stored: a dictionary of the strings they use and one row of
 * numbers per fact, as one JSON string (FerretDB refuses dotted keys, and IRIs are full of dots;
 * one string field is also the cheapest thing for it to store and read back).
 */
const FIELDS = 9;

export function encodeFacts(facts: readonly Fact[]): string {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const ref = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  const rows: number[] = [];
  for (const f of facts) {
    // Event ids are kept for badge events only: the xAPI statements are made of those.
    rows.push(ref(f.tenant), ref(f.action), f.time, ref(f.badgeClass), ref(f.issuer), ref(f.recipient), ref(f.actor), ref(f.edApp), f.badge ? ref(f.eventId) : -1);
  }
  return JSON.stringify({ s: strings, r: rows });
}

export function decodeFacts(data: string): Fact[] {
  const { s, r } = JSON.parse(data) as { s: string[]; r: number[] };
  const facts: Fact[] = [];
  for (let i = 0; i + FIELDS <= r.length; i += FIELDS) {
    const id = r[i + 8]!;
    facts.push({
      tenant: s[r[i]!]!,
      action: s[r[i + 1]!]!,
      time: r[i + 2]!,
      badgeClass: s[r[i + 3]!]!,
      issuer: s[r[i + 4]!]!,
      recipient: s[r[i + 5]!]!,
      actor: s[r[i + 6]!]!,
      edApp: s[r[i + 7]!]!,
      badge: id >= 0,
      eventId: id >= 0 ? s[id]! : '',
      receivedAt: 0,
    });
  }
  return facts;
}
