/**
 * The figures the reporting API should give, computed the plain way from what the generator
 * wrote down about each event (reporting-history.ts): filters and counts over the list of events,
 * sharing no code with the service.
 */
import type { Known } from './reporting-history.js';

export interface Params {
  from: string;
  to: string;
  badgeClass?: string;
  issuer?: string;
}

const STAGES = ['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Verified', 'Accepted'];
const RATIOS: [string, string, string][] = [
  ['acceptanceRate', 'Accepted', 'Issued'],
  ['shareRate', 'Shared', 'Issued'],
  ['viewsPerShare', 'Accessed', 'Shared'],
  ['verificationsPerIssued', 'Verified', 'Issued'],
  ['revocationRate', 'Revoked', 'Issued'],
];

const instant = (s: string) => Date.parse(/T/.test(s) ? s : `${s}T00:00:00Z`);
const round = (n: number, d: number) => (d === 0 ? null : Math.round((n / d) * 1e6) / 1e6);
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class Expected {
  private readonly issuers = new Map<string, string>();

  constructor(private readonly events: readonly Known[]) {
    for (const e of events) {
      if (!e.badge || !e.badgeClass || !e.issuer) continue;
      const current = this.issuers.get(e.badgeClass);
      if (current === undefined || e.issuer < current) this.issuers.set(e.badgeClass, e.issuer);
    }
  }

  private matches(e: Known, p: Params): boolean {
    if (!p.badgeClass && !p.issuer) return true;
    return e.badge && e.badgeClass !== '' && (!p.badgeClass || e.badgeClass === p.badgeClass) && (!p.issuer || (this.issuers.get(e.badgeClass) ?? '') === p.issuer);
  }

  private selected(p: Params): Known[] {
    const from = instant(p.from);
    const to = instant(p.to);
    return this.events.filter((e) => e.time >= from && e.time < to && this.matches(e, p));
  }

  counts(p: Params & { groupBy: string; action?: string; distinct?: string }) {
    const actions = p.action?.split(',');
    const distinct = p.distinct === 'true';
    const cells = new Map<string, { bucket: number; action: string; events: number; recipients: Set<string>; actors: Set<string> }>();
    const totals = new Map<string, { events: number; recipients: Set<string>; actors: Set<string> }>();
    for (const e of this.selected(p)) {
      if (actions && !actions.includes(e.action)) continue;
      const bucket = bucketOf(e.time, p.groupBy);
      const key = `${bucket}|${e.action}`;
      const c = cells.get(key) ?? { bucket, action: e.action, events: 0, recipients: new Set(), actors: new Set() };
      cells.set(key, c);
      const t = totals.get(e.action) ?? { events: 0, recipients: new Set(), actors: new Set() };
      totals.set(e.action, t);
      c.events++;
      t.events++;
      if (e.recipient) {
        c.recipients.add(e.recipient);
        t.recipients.add(e.recipient);
      }
      if (e.actor) {
        c.actors.add(e.actor);
        t.actors.add(e.actor);
      }
    }
    const rows = [...cells.values()]
      .sort((a, b) => a.bucket - b.bucket || byString(a.action, b.action))
      .map((c) => ({ bucket: new Date(c.bucket).toISOString(), action: c.action, events: c.events, ...(distinct ? { recipients: c.recipients.size, actors: c.actors.size } : {}) }));
    const totalRows = [...totals]
      .sort(([a], [b]) => byString(a, b))
      .map(([action, t]) => ({ action, events: t.events, ...(distinct ? { recipients: t.recipients.size, actors: t.actors.size } : {}) }));
    return { rows, totals: totalRows };
  }

  private reached(events: Known[], action: string): number {
    return new Set(events.filter((e) => e.action === action && e.recipient).map((e) => e.recipient)).size;
  }

  funnel(p: Params) {
    const events = this.selected(p).filter((e) => e.badge);
    const reached = STAGES.map((s) => this.reached(events, s));
    return { rows: STAGES.map((stage, i) => ({ stage, recipients: reached[i]!, conversion: i === 0 ? null : round(reached[i]!, reached[i - 1]!), ofFirst: i === 0 ? null : round(reached[i]!, reached[0]!) })) };
  }

  ratios(p: Params) {
    const events = this.selected(p).filter((e) => e.badge);
    const count = (a: string) => events.filter((e) => e.action === a).length;
    return { rows: RATIOS.map(([ratio, n, d]) => ({ ratio, numerator: count(n), denominator: count(d), value: round(count(n), count(d)) })) };
  }

  consumers(p: Params & { action?: string }) {
    const actions = (p.action ?? 'Verified,Accessed,Accepted').split(',');
    const totals = new Map<string, number>();
    for (const e of this.selected(p)) {
      if (!e.badge || !actions.includes(e.action)) continue;
      const key = `${e.action}\u0000${e.actor}\u0000${e.edApp}`;
      totals.set(key, (totals.get(key) ?? 0) + 1);
    }
    return {
      rows: [...totals]
        .map(([key, events]) => {
          const [action, actor, edApp] = key.split('\u0000') as [string, string, string];
          return { action, actor, edApp, events };
        })
        .sort((a, b) => b.events - a.events || byString(a.action, b.action) || byString(a.actor, b.actor) || byString(a.edApp, b.edApp)),
    };
  }

  timeToEarn(p: Params) {
    const from = instant(p.from);
    const to = instant(p.to);
    const firstLearning = new Map<string, number>();
    const goal = new Map<string, number>();
    const issued = new Map<string, number>();
    const min = (m: Map<string, number>, k: string, v: number) => m.set(k, Math.min(m.get(k) ?? Infinity, v));
    for (const e of this.events) {
      if (!e.badge) {
        if (e.recipient) min(firstLearning, e.recipient, e.time);
        continue;
      }
      if (!e.recipient || !e.badgeClass || !this.matches(e, p)) continue;
      const key = `${e.badgeClass}\u0000${e.recipient}`;
      if (e.action === 'Assigned' || e.action === 'Applied') min(goal, key, e.time);
      if (e.action === 'Issued') min(issued, key, e.time);
    }
    const durations: number[] = [];
    let recipientsIssued = 0;
    for (const [key, at] of issued) {
      if (at < from || at >= to) continue;
      recipientsIssued++;
      const recipient = key.split('\u0000')[1]!;
      const start = Math.min(goal.get(key) ?? Infinity, firstLearning.get(recipient) ?? Infinity);
      if (start <= at) durations.push((at - start) / 1000);
    }
    durations.sort((a, b) => a - b);
    const pct = (q: number) => (durations.length === 0 ? null : durations[Math.max(0, Math.ceil((q / 100) * durations.length) - 1)]!);
    return { rows: [50, 75, 90, 95, 99].map((percentile) => ({ percentile, seconds: pct(percentile) })), recipientsIssued, measured: durations.length };
  }

  topBadges(p: Params & { by: string; limit?: string }) {
    const events = this.selected(p).filter((e) => e.badge && e.badgeClass);
    const byBadge = new Map<string, Known[]>();
    for (const e of events) {
      const list = byBadge.get(e.badgeClass);
      if (list) list.push(e);
      else byBadge.set(e.badgeClass, [e]);
    }
    const ratio = RATIOS.find(([name]) => name === p.by);
    const ranked: { badgeClass: string; issuer: string; value: number }[] = [];
    for (const [badgeClass, list] of byBadge) {
      const count = (a: string) => list.filter((e) => e.action === a).length;
      let value: number | null;
      if (ratio) value = round(count(ratio[1]), count(ratio[2]));
      else if (p.by.startsWith('recipients:')) value = this.reached(list, p.by.slice('recipients:'.length));
      else value = count(p.by);
      if (value !== null && value > 0) ranked.push({ badgeClass, issuer: this.issuers.get(badgeClass) ?? '', value });
    }
    ranked.sort((a, b) => b.value - a.value || byString(a.badgeClass, b.badgeClass));
    return { rows: ranked.slice(0, Number(p.limit ?? 10)).map((r, i) => ({ rank: i + 1, ...r })) };
  }

  summary(p: Params & { badgeClass: string }) {
    const events = this.selected(p);
    const actions = [...new Set(events.map((e) => e.action))].sort();
    const rows = actions.map((action) => {
      const list = events.filter((e) => e.action === action);
      return { action, events: list.length, recipients: new Set(list.filter((e) => e.recipient).map((e) => e.recipient)).size, actors: new Set(list.filter((e) => e.actor).map((e) => e.actor)).size };
    });
    const earned = this.timeToEarn(p);
    const known = this.events.some((e) => e.badge && e.badgeClass === p.badgeClass);
    return {
      rows,
      issuer: known ? (this.issuers.get(p.badgeClass) ?? '') : null,
      ratios: this.ratios(p).rows,
      funnel: this.funnel(p).rows,
      timeToEarn: { recipientsIssued: earned.recipientsIssued, measured: earned.measured, percentiles: earned.rows },
    };
  }
}

function bucketOf(time: number, groupBy: string): number {
  const d = new Date(time);
  if (groupBy === 'hour') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
  if (groupBy === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (groupBy === 'day') return day;
  return day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
}
