import type { Response } from 'express';
import type { EnvelopeProblem } from '@badgestream/caliper';

/** Every error answer of Badgestream's HTTP APIs: RFC 7807 problem details. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: EnvelopeProblem[];
}

const PROBLEM_BASE = 'https://w3id.org/badgestream/problems/';

export function problem(status: number, slug: string, title: string, extra: Omit<Partial<ProblemDetails>, 'status' | 'type' | 'title'> = {}): ProblemDetails {
  return { type: PROBLEM_BASE + slug, title, status, ...extra };
}

export function sendProblem(res: Response, details: ProblemDetails, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(details.status).type('application/problem+json').send(JSON.stringify(details));
}
