import type { Response } from 'express';

/** Every error answer of Badgestream's HTTP APIs: RFC 7807 problem details. */
/** One located problem: which item (if any), where (JSON pointer), and why. */
export interface LocatedProblem {
  index?: number;
  pointer: string;
  reason: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: LocatedProblem[];
}

const PROBLEM_BASE = 'https://w3id.org/badgestream/problems/';

export function problem(status: number, slug: string, title: string, extra: Omit<Partial<ProblemDetails>, 'status' | 'type' | 'title'> = {}): ProblemDetails {
  return { type: PROBLEM_BASE + slug, title, status, ...extra };
}

export function sendProblem(res: Response, details: ProblemDetails, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(details.status).type('application/problem+json').send(JSON.stringify(details));
}
