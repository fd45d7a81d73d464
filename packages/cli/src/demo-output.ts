import type { AwardRecord, ProgressReport } from '@badgestream/criteria';
import { shortDate, shortTime, type DemoLearner, type Story, type StoryEvent } from './demo-story.js';
import type { RunningBadgestream } from './start.js';

/**
 * What `badgestream demo` prints, section by section, in plain lines: from the story it told and
 * what the services answered (GET /progress, GET /reports/*). Pure: data in, lines out.
 */

/** A learner's progress towards the demo's badge (GET /progress), and the effects emitted for them. */
export interface LearnerResult {
  learner: DemoLearner;
  progress?: ProgressReport & { awards: AwardRecord[] };
  effects: { kind: 'award' | 'revoke' | 'expire' }[];
}

/** The reporting API's answers the demo shows. */
export interface Figures {
  summary: {
    rows: { action: string; events: number; recipients: number; actors: number }[];
    funnel: { stage: string; recipients: number; conversion: number | null }[];
    ratios: { ratio: string; numerator: number; denominator: number; value: number | null }[];
    timeToEarn: { recipientsIssued: number; measured: number; percentiles: { percentile: number; seconds: number | null }[] };
  };
  /** Every event of the tenant in the range, by action (GET /reports/counts). */
  totals: { action: string; events: number }[];
  consumers: { action: string; actor: string; edApp: string; events: number }[];
}

const WIDTH = 104;
const INDENT = '    ';

export function describeSetup(o: { running: RunningBadgestream; tenant: string; story: Story; temporary: boolean }): string[] {
  const { running, story } = o;
  const where =
    running.mode === 'embedded' ? `embedded: every service in this process, data in ${running.dataDir}${o.temporary ? ' (removed at exit)' : ''}` : 'Kafka and MongoDB: every service in this process';
  const requirements = story.criteria.requirement as { all: { id: string; description?: string }[] };
  return [
    'Badgestream demo: a course, the badge it leads to, and what becomes of the badge.',
    '',
    `  mode       ${where}`,
    `  ingest     ${running.urls.ingest}/caliper`,
    `  criteria   ${running.urls.criteria}/admin/criteria, /progress`,
    `  reporting  ${running.urls.reporting}/reports/*, issuer page at /`,
    `  relay      ${running.urls.relay}`,
    '',
    'The issuer',
    `  tenant     ${o.tenant}, with keys for the LMS (sensor), the issuer page (reader) and the badge administrator (admin)`,
    `  issuer     ${story.issuer.name}  ${story.issuer.id}`,
    `  badge      ${story.badgeClass.name}  ${story.badgeClass.id}`,
    `             defined by ${story.instructor.name} (a Defined BadgeEvent), so hosted here and advertising where to report back`,
    `  criteria   version ${story.criteria.version}, active; issued by Badgestream; revoked when no longer met. All of:`,
    ...requirements.all.map((r) => `               ${r.id.padEnd(10)} ${r.description ?? ''}`),
    `  consumers  ${story.backpack.name} and ${story.verifier.name} registered to report back (POST /caliper/consumers)`,
  ];
}

export function describePosted(story: Story): string[] {
  const events = story.envelopes.flat();
  const counts = new Map<string, number>();
  for (const e of events) counts.set(`${e.event.type} ${e.event.action}`, (counts.get(`${e.event.type} ${e.event.action}`) ?? 0) + 1);
  const regrades = events.filter((e) => e.label.includes('regraded')).length;
  const resubmissions = events.filter((e) => e.label.includes('resubmitted')).length;
  const notes: Record<string, string> = {
    'Event Activated': 'enrolments (a Membership Active)',
    'Event Deactivated': 'an unenrolment (a Membership Inactive)',
    'AssignableEvent Submitted': `submissions, ${resubmissions} a resubmission`,
    'GradeEvent Graded': `grades by the gradebook, ${regrades} a regrade`,
  };
  const times = events.map((e) => e.event.eventTime).sort();
  return [
    `The course: ${story.section.name}, ${story.learners.length} learners, ${story.assignments.length} assignments`,
    `  the LMS posted ${events.length} Caliper events in ${story.envelopes.length} envelopes with its sensor key, ${shortDate(times[0]!)} to ${shortDate(times.at(-1)!)}:`,
    ...[...counts].map(([kind, n]) => `${INDENT}${kind.padEnd(28)}${String(n).padStart(3)}  ${notes[kind] ?? ''}`.trimEnd()),
  ];
}

/** Awards with their provenance, the revocation, the learner without an award, and what consumers reported. */
export function describeLearners(story: Story, results: readonly LearnerResult[], events: ReadonlyMap<string, StoryEvent>): string[] {
  const said = (id: string) => {
    const e = events.get(id);
    return e ? `${e.label} (${shortDate(e.event.eventTime)})` : id;
  };
  const descriptions = new Map((story.criteria.requirement as { all: { id: string; description?: string }[] }).all.map((r) => [r.id, r.description ?? r.id]));
  const lines: string[] = ['Awards (GET /progress: which events met which requirement)'];
  for (const { learner, progress } of results) {
    const award = progress?.award ? progress.awards.find((a) => a.awardId === progress.award!.awardId) : undefined;
    if (!award) continue;
    lines.push(`  ${learner.name.padEnd(15)} awarded ${story.badgeClass.name} ${shortTime(award.awardedAt)} UTC, assertion ${award.awardId}`);
    for (const r of award.provenance.requirements) lines.push(...wrap(`${INDENT}${r.requirement.padEnd(10)} `, r.events.map(said), '; '));
  }

  lines.push('', 'Revoked');
  for (const { learner, progress } of results) {
    for (const award of progress?.awards ?? []) {
      const ended = award.ended;
      if (!ended || ended.how !== 'revoked') continue;
      lines.push(`  ${learner.name.padEnd(15)} awarded ${shortTime(award.awardedAt)} UTC, revoked ${shortTime(ended.at)} UTC`);
      lines.push(...wrap(`${INDENT}${'broken by'.padEnd(10)} `, ended.brokenBy.map(said), '; '));
      lines.push(
        ...wrap(
          `${INDENT}${'unmet'.padEnd(10)} `,
          ended.unmet.map((id) => `${id}: ${descriptions.get(id) ?? id}`),
          '; ',
        ),
      );
      // The reason the Revoked event carries (the assertion's revocationReason), as the engine wrote it.
      lines.push(...wrap(`${INDENT}${'reason'.padEnd(10)} `, ended.reason.split(' '), ' '));
    }
  }

  lines.push('', 'No award');
  for (const { learner, progress } of results) {
    if (!progress || progress.awards.length > 0) continue;
    const left = [...events.values()].find((e) => e.event.action === 'Deactivated' && (e.event.actor as { id?: string }).id === learner.iri);
    lines.push(`  ${learner.name.padEnd(15)} ${left ? `${left.label} ${shortTime(left.event.eventTime)} UTC, before finishing. ` : ''}${progress.notes.join(' ')}`);
    for (const r of progress.requirements) lines.push(...wrap(`${INDENT}${r.id.padEnd(10)} `, [`${r.met ? 'met' : 'not met'}: ${r.summary}`, ...r.events.map(said)], '; '));
  }

  const reported = [...events.values()].filter((e) => e.event.type === 'BadgeEvent' && (e.event.action === 'Shared' || e.event.action === 'Verified'));
  lines.push('', 'Reported back by consumers (POST /caliper with their consumer keys)');
  for (const e of reported.sort((a, b) => a.event.eventTime.localeCompare(b.event.eventTime))) lines.push(`  ${shortTime(e.event.eventTime)}  ${e.label}`);
  return lines;
}

export function describeFigures(story: Story, figures: Figures, range: { from: string; to: string }): string[] {
  const { summary } = figures;
  const names = new Map<string, string>([...story.learners.map((l) => [l.iri, l.name] as const), [story.backpack.id, story.backpack.name], [story.verifier.id, story.verifier.name]]);
  const lines = [
    `The issuer's figures (GET /reports/* with the reader key, from=${range.from}&to=${range.to})`,
    `  ${story.badgeClass.name} (summary)`,
    `${INDENT}${'action'.padEnd(22)}events  recipients  actors`,
  ];
  for (const r of summary.rows) lines.push(`${INDENT}${r.action.padEnd(22)}${String(r.events).padStart(6)}${String(r.recipients).padStart(12)}${String(r.actors).padStart(8)}`);

  const stages = summary.funnel.filter((s) => s.recipients > 0).map((s) => `${s.stage} ${s.recipients}${s.conversion !== null ? ` (${Math.round(s.conversion * 100)}%)` : ''}`);
  lines.push(...wrap(`  ${'funnel'.padEnd(17)}`, stages, ' → '));
  const ratios = summary.ratios.filter((r) => r.numerator > 0 && r.value !== null).map((r) => `${RATIO_NAMES[r.ratio] ?? r.ratio} ${r.value!.toFixed(2)} (${r.numerator}/${r.denominator})`);
  lines.push(...wrap(`  ${'ratios'.padEnd(17)}`, ratios, ', '));
  const p = (n: number) => summary.timeToEarn.percentiles.find((q) => q.percentile === n)?.seconds ?? null;
  const days = (s: number | null) => (s === null ? 'n/a' : `${(s / 86_400).toFixed(1)} days`);
  lines.push(`  ${'time to earn'.padEnd(17)}median ${days(p(50))}, 90th percentile ${days(p(90))} (first learning event to Issued, ${summary.timeToEarn.measured} recipients)`);

  const byApp = new Map<string, { action: string; events: number; actors: Set<string> }>();
  for (const c of figures.consumers) {
    const key = `${c.edApp}\u0000${c.action}`;
    const entry = byApp.get(key) ?? { action: c.action, events: 0, actors: new Set<string>() };
    entry.events += c.events;
    entry.actors.add(c.actor);
    byApp.set(key, entry);
  }
  const consumerLines = [...byApp].map(([key, c]) => {
    const app = key.split('\u0000')[0]!;
    const by = [...c.actors].map((a) => names.get(a) ?? a);
    return `${names.get(app) ?? app}: ${c.action} ${c.events}${by.length > 1 || by[0] !== (names.get(app) ?? app) ? ` (by ${by.join(', ')})` : ''}`;
  });
  consumerLines.forEach((l, i) => lines.push(`  ${(i === 0 ? 'consumers' : '').padEnd(17)}${l}`));
  const learning = figures.totals.filter((t) => t.action.includes(':')).map((t) => `${t.action} ${t.events}`);
  lines.push(...wrap(`  ${'learning events'.padEnd(17)}`, learning, ', '));
  return lines;
}

const RATIO_NAMES: Record<string, string> = {
  acceptanceRate: 'acceptance rate',
  shareRate: 'share rate',
  viewsPerShare: 'views per share',
  verificationsPerIssued: 'verifications per badge issued',
  revocationRate: 'revocation rate',
};

/** Items after a label, joined by `separator` and wrapped between items at about WIDTH columns, continuation lines under the first item. */
function wrap(label: string, items: readonly string[], separator: string): string[] {
  const room = Math.max(40, WIDTH - label.length);
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    if (line && line.length + separator.length + item.length > room) {
      lines.push(`${line}${separator.trimEnd()}`);
      line = item;
    } else line = line ? `${line}${separator}${item}` : item;
  }
  lines.push(line);
  return lines.map((l, i) => `${i === 0 ? label : ' '.repeat(label.length)}${l}`);
}
