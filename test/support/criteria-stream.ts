import type { Kafka } from 'kafkajs';
import type { Criteria } from '@badgestream/criteria';
import { TOPICS, type MongoCriteriaDefinitions } from '@badgestream/platform';
import { endOffsets } from './ingest.js';

/** The course `k` of a run: its attempts are filed under it, so each course's criteria select its events. */
export const courseIri = (run: string, k: number) => `https://example.edu/${run}/courses/${k}`;
export const courseBadge = (run: string, k: number) => `https://issuer.example/${run}/badges/course-${k}`;

/**
 * The criteria of course `k` used by the stream tests and the benchmark: any 3 of the course's 5
 * quizzes passed with 60%; even courses revoke when a regrade drops a learner below the bar, odd
 * ones keep the award.
 */
export function courseCriteria(run: string, k: number): Criteria {
  return {
    badgeClass: courseBadge(run, k),
    version: 1,
    name: `Course ${k}`,
    requirement: {
      id: 'quizzes',
      description: 'pass any 3 of the 5 quizzes of the course with 60%',
      match: { type: 'GradeEvent', action: 'Graded', object: { idPrefix: `${courseIri(run, k)}/` } },
      where: [{ scoreRatio: { min: 0.6 } }],
      latestBy: 'object.assignable.id',
      atLeast: 3,
    },
    whenUnmet: k % 2 === 0 ? 'revoke' : 'keep',
  } as Criteria;
}

/** Sets a new consumer group's offsets on caliper.events, by default to the end: it reads only what comes next. */
export async function startGroupAt(kafka: Kafka, groupId: string, offsets?: Map<number, string>): Promise<Map<number, string>> {
  const start = offsets ?? (await endOffsets(kafka, TOPICS.events));
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId, topic: TOPICS.events, partitions: [...start].map(([partition, offset]) => ({ partition, offset })) });
  } finally {
    await admin.disconnect();
  }
  return start;
}

/**
 * Retires every active criteria version of these tenants: a criteria group started later (another
 * suite, a benchmark) evaluates every active version over the stored history, so a suite leaves
 * none behind. Returns how many it retired.
 */
export async function retireCriteriaOf(definitions: MongoCriteriaDefinitions, tenants: Iterable<string>): Promise<number> {
  let retired = 0;
  for (const tenant of new Set(tenants)) {
    for (const d of await definitions.active(tenant)) {
      await definitions.retire(tenant, d.badgeClass, d.version);
      retired++;
    }
  }
  return retired;
}

/** A criteria document of two requirements (3 quizzes passed with 70%, the final submitted), for the admin and repository suites. */
export const PYTHON_BASICS = 'https://issuer.example/badges/python-basics?cohort=2026|spring';

export function pythonBasicsCriteria(version: number, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    badgeClass: PYTHON_BASICS,
    version,
    name: 'Python Basics',
    requirement: {
      all: [
        { id: 'quizzes', match: { type: 'GradeEvent', action: 'Graded' }, where: [{ scoreRatio: { min: 0.7 } }], latestBy: 'object.assignable.id', atLeast: 3 },
        { id: 'final', match: { type: 'AssessmentEvent', action: 'Submitted', object: { id: 'https://lms.example/final' } } },
      ],
    },
    window: 'P90D',
    ...changes,
  };
}
