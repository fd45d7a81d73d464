import { joinPointer, type EnvelopeProblem } from './problems.js';

/** Keys that can poison prototypes when data is later merged or spread into objects. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface StructureLimits {
  maxDepth: number;
}

/** A node's place in the document, kept as a parent chain: pointers are built only for problems. */
interface Place {
  parent: Place | undefined;
  key: string | number;
}

function pointerOf(place: Place | undefined): string {
  const keys: (string | number)[] = [];
  for (let p = place; p; p = p.parent) keys.push(p.key);
  return joinPointer('', ...keys.reverse());
}

/**
 * Checks a parsed body before any schema runs: bounded nesting (so nothing
 * downstream recurses without limit) and no prototype-polluting keys. Iterative,
 * so hostile depth cannot overflow the stack here either.
 */
export function checkStructure(value: unknown, limits: StructureLimits): EnvelopeProblem[] {
  const problems: EnvelopeProblem[] = [];
  const stack: { value: unknown; place: Place | undefined; depth: number }[] = [{ value, place: undefined, depth: 0 }];
  while (stack.length > 0 && problems.length < 20) {
    const { value: current, place, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= limits.maxDepth) {
      problems.push({ pointer: pointerOf(place), reason: `nesting deeper than ${limits.maxDepth} levels is not accepted` });
      continue;
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], place: { parent: place, key: i }, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(current)) {
      const child: Place = { parent: place, key };
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ pointer: pointerOf(child), reason: `the key ${JSON.stringify(key)} is not accepted anywhere in a Caliper document` });
        continue;
      }
      stack.push({ value: (current as Record<string, unknown>)[key], place: child, depth: depth + 1 });
    }
  }
  return problems;
}
