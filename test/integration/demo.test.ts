import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { connectMongo } from '@badgestream/platform';
import { runDemo } from '../../packages/cli/src/demo.js';
import { startGroupAt } from '../support/criteria-stream.js';
import { uniqueName } from '../support/ingest.js';
import { databaseUri, stackKafka } from '../support/reporting.js';
import { requireStack } from '../support/stack.js';

/**
 * `badgestream demo`, run in this process as the command runs it: the story it tells must be the
 * one that happened. Who earned the badge, who lost it and why, who earned nothing, and figures
 * that agree with what was posted, read from the printed output as a user reads it.
 */

const EARNED = ['Amara Okafor', 'Bruno Silva', 'Chen Wei', 'Elif Yilmaz'];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The lines of the section that starts with `heading`, up to the next blank line. */
function section(lines: readonly string[], heading: string): string[] {
  const start = lines.findIndex((l) => l.startsWith(heading));
  expect(start, `a section "${heading}" in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The indented lines under a learner's line, up to the next learner. */
function under(lines: readonly string[], name: string): string {
  const start = lines.findIndex((l) => l.startsWith(`  ${name} `));
  expect(start, `${name} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && /^ {2}\S/.test(l));
  return lines.slice(start, end === -1 ? undefined : end).join('\n');
}

/** The events column of the summary table, by action. */
function summaryEvents(lines: readonly string[]): Record<string, number> {
  const rows = section(lines, "The issuer's figures").filter((l) => /^ {4}[A-Z][a-z]+ +\d+ +\d+ +\d+$/.test(l));
  return Object.fromEntries(rows.map((l) => l.trim().split(/ +/)).map(([action, events]) => [action!, Number(events)]));
}

function expectTheStory(lines: string[]): void {
  const text = lines.join('\n');
  const awards = section(lines, 'Awards');
  const awarded = awards.filter((l) => /^ {2}\S/.test(l)).map((l) => /^ {2}(.+?) +awarded Data Analysis Foundations /.exec(l)?.[1]);
  expect(awarded, text).toEqual(EARNED);
  // Provenance: the events that met each requirement, the latest grade of a resubmitted assignment only.
  expect(under(awards, 'Amara Okafor')).toMatch(/enrolled +enrolled in DS 101/);
  expect(under(awards, 'Amara Okafor')).toMatch(/passed +assignment 1 graded 92\/100 .*assignment 2 graded 88\/100[^]*assignment 3 graded 95\/100/);
  expect(under(awards, 'Elif Yilmaz')).toContain('assignment 3 graded 76/100');
  expect(under(awards, 'Elif Yilmaz')).not.toContain('58/100');

  const revoked = section(lines, 'Revoked');
  expect(revoked.filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/ {2,}/)[0])).toEqual(['Dana Kowalski']);
  const dana = under(revoked, 'Dana Kowalski');
  expect(dana).toMatch(/broken by +assignment 2 regraded 64\/100/);
  expect(dana).toMatch(/unmet +passed: pass each assignment with at least 70%/);
  expect(dana).toMatch(/reason +no longer met after event urn:uuid:\S+ \(GradeEvent\s+Graded\)/);

  const none = section(lines, 'No award');
  const farid = under(none, 'Farid Haddad');
  expect(farid).toContain('dropped DS 101');
  expect(farid).toMatch(/enrolled +not met/);
  expect(farid).toMatch(/submitted +not met: 2 of 3 done/);
  expect(text).not.toMatch(/Farid Haddad +awarded/);

  // The figures agree with what was posted and awarded: an Issued (and a Demonstrated) for each
  // award, the one revoked included; each share and verification reported back counted once.
  const reported = section(lines, 'Reported back by consumers');
  const events = summaryEvents(lines);
  expect(events, text).toEqual({
    Defined: 1,
    Demonstrated: EARNED.length + 1,
    Issued: EARNED.length + 1,
    Revoked: 1,
    Shared: reported.filter((l) => l.includes('shared the badge')).length,
    Verified: reported.filter((l) => l.includes('verified')).length,
  });
  expect(events.Shared).toBe(3);
  expect(events.Verified).toBe(3);
  const posted = Object.fromEntries(
    section(lines, 'The course')
      .map((l) => /^ {4}(\w+) (\w+) +(\d+)/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [`${m[1]}:${m[2]}`, Number(m[3])]),
  );
  expect(posted['GradeEvent:Graded']).toBe(18);
  const learning = section(lines, "The issuer's figures")
    .join(' ')
    .match(/learning events +(.*)$/)![1]!
    .split(/, +/)
    .map((s) => s.trim().split(' '));
  expect(Object.fromEntries(learning.map(([action, n]) => [action, Number(n)]))).toEqual(posted);
  expect(text).toMatch(/consumers +Northwind Talent badge check: Verified 3/);
  expect(text).toMatch(/Open Backpack: Shared 3 \(by Amara Okafor, Chen Wei, Elif Yilmaz\)/);
  expect(text).toMatch(/funnel +Demonstrated 5 → Issued 5 \(100%\) → Shared 3 \(60%\) → Verified 3 \(100%\)/);
}

describe('badgestream demo', () => {
  it('embedded (the default): tells the whole story in a temporary data directory it removes after', async () => {
    const env = { ...process.env };
    for (const name of ['KAFKA_BROKERS', 'MONGODB_URI', 'SCHEMA_REGISTRY_URL', 'BADGESTREAM_DATA_DIR']) delete env[name];
    const lines: string[] = [];
    await runDemo({ env, out: (line) => lines.push(line) });
    expectTheStory(lines);
    const dataDir = /data in (\S+) \(removed at exit\)/.exec(lines.join('\n'))?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
  });

  it('on Kafka and MongoDB: the same story, with consumer groups of its own that start at the end of caliper.events', async () => {
    const stack = await requireStack();
    const mongodbUri = databaseUri(stack.mongodbUri, uniqueName('demo'));
    cleanups.push(async () => {
      const mongo = await connectMongo(mongodbUri);
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    // Fresh groups would read every other suite's events from the beginning.
    const groups = { CRITERIA_GROUP_ID: uniqueName('demo-criteria'), REPORTING_GROUP_ID: uniqueName('demo-reporting'), RELAY_GROUP_ID: uniqueName('demo-relay') };
    const kafka = stackKafka(stack);
    for (const group of Object.values(groups)) await startGroupAt(kafka, group);
    const lines: string[] = [];
    const demo = await runDemo({
      env: { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: mongodbUri, ...groups },
      out: (line) => lines.push(line),
    });
    expect(lines.join('\n')).toContain('mode       Kafka and MongoDB');
    expectTheStory(lines);
    // The data stays in MongoDB: the keys are printed to go on with.
    expect(lines.join('\n')).toContain(`reader   ${demo.keys.reader}`);
    expect(demo.tenant).toMatch(/^demo-university(-\d+)?$/);
  });
});
