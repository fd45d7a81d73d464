import { joinPointer, type EnvelopeProblem } from './problems.js';

/** Keys that can poison prototypes when data is later merged or spread into objects. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface StructureLimits {
  maxDepth: number;
}

/**
 * Checks a parsed body before any schema runs: bounded nesting (so nothing
 * downstream recurses without limit) and no prototype-polluting keys. Iterative,
 * so hostile depth cannot overflow the stack here either.
 */
export function checkStructure(value: unknown, limits: StructureLimits): EnvelopeProblem[] {
  const problems: EnvelopeProblem[] = [];
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value, pointer: '', depth: 0 }];
  while (stack.length > 0 && problems.length < 20) {
    const { value: current, pointer, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= limits.maxDepth) {
      problems.push({ pointer, reason: `nesting deeper than ${limits.maxDepth} levels is not accepted` });
      continue;
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], pointer: joinPointer(pointer, i), depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(current)) {
      const child = joinPointer(pointer, key);
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ pointer: child, reason: `the key ${JSON.stringify(key)} is not accepted anywhere in a Caliper document` });
        continue;
      }
      stack.push({ value: (current as Record<string, unknown>)[key], pointer: child, depth: depth + 1 });
    }
  }
  return problems;
}
