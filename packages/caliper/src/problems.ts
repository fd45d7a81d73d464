/** One thing wrong with a posted envelope, located by JSON pointer from the envelope's root. */
export interface EnvelopeProblem {
  /** Index of the failing item in `data`, when the problem is inside one. */
  index?: number;
  pointer: string;
  reason: string;
}

/** Escapes one JSON pointer reference token (RFC 6901). */
export function pointerToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function joinPointer(base: string, ...keys: (string | number)[]): string {
  return base + keys.map((k) => `/${pointerToken(k)}`).join('');
}
