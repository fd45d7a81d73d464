import { BADGE_ACTIONS } from '@badgestream/profile-open-badges';
import { HOUR_MS, type TenantView } from './view.js';

/**
 * The reporting queries: what each takes (parsed and checked here, so a bad query is refused with
 * what to change before anything is read), and how each figure is computed from a tenant's view.
 */

export const GROUP_BY = ['hour', 'day', 'week', 'month'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** Stages of the funnel, in order: distinct recipients who reached each. */
export const FUNNEL_STAGES = ['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Verified', 'Accepted'] as const;

/** The ratios issuers expect, each a quotient of two event counts over the range. */
export const RATIOS = {
  acceptanceRate: { numerator: 'Accepted', denominator: 'Issued' },
  shareRate: { numerator: 'Shared', denominator: 'Issued' },
  viewsPerShare: { numerator: 'Accessed', denominator: 'Shared' },
  verificationsPerIssued: { numerator: 'Verified', denominator: 'Issued' },
  revocationRate: { numerator: 'Revoked', denominator: 'Issued' },
} as const;
export type RatioName = keyof typeof RATIOS;

export const CONSUMER_REPORT_ACTIONS = ['Verified', 'Accessed', 'Accepted'] as const;
export const PERCENTILES = [50, 75, 90, 95, 99] as const;

/** Longest range a query may cover, and longest at hourly granularity. */
export const MAX_RANGE_DAYS = 3660;
export const MAX_HOURLY_RANGE_HOURS = 31 * 24;
export const MAX_TOP_LIMIT = 100;

export const QUERY_KINDS = ['counts', 'funnel', 'ratios', 'consumers', 'time-to-earn', 'top-badges', 'summary'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

export interface Filters {
  from: number;
  to: number;
  badgeClass?: string;
  issuer?: string;
}

export type Query =
  | ({ kind: 'counts'; groupBy: GroupBy; actions?: string[]; distinct: boolean } & Filters)
  | ({ kind: 'funnel' } & Filters)
  | ({ kind: 'ratios' } & Filters)
  | ({ kind: 'consumers'; actions: string[] } & Filters)
  | ({ kind: 'time-to-earn' } & Filters)
  | ({ kind: 'top-badges'; by: string; limit: number } & Filters)
  | ({ kind: 'summary'; badgeClass: string } & Filters);

export interface QueryError {
  pointer: string;
  reason: string;
}

export class InvalidQueryError extends Error {
  constructor(readonly errors: QueryError[]) {
    super(errors.map((e) => `${e.pointer.slice(1)}: ${e.reason}`).join('; '));
    this.name = 'InvalidQueryError';
  }
}

const COMMON_PARAMS = ['from', 'to', 'badgeClass', 'issuer', 'format'];
const PARAMS: Record<QueryKind, string[]> = {
  counts: [...COMMON_PARAMS, 'groupBy', 'action', 'distinct'],
  funnel: COMMON_PARAMS,
  ratios: COMMON_PARAMS,
  consumers: [...COMMON_PARAMS, 'action'],
  'time-to-earn': COMMON_PARAMS,
  'top-badges': [...COMMON_PARAMS, 'by', 'limit'],
  summary: COMMON_PARAMS,
};

/** The measures top-badges ranks by: an action's events, `recipients:<action>`, or a ratio. */
export function describeMeasure(by: string): { kind: 'events' | 'recipients'; action: string } | { kind: 'ratio'; ratio: RatioName } | undefined {
  if (by in RATIOS) return { kind: 'ratio', ratio: by as RatioName };
  const m = /^(recipients:)?(\w+)$/.exec(by);
  if (!m || !(BADGE_ACTIONS as readonly string[]).includes(m[2]!)) return undefined;
  return { kind: m[1] ? 'recipients' : 'events', action: m[2]! };
}

/** Reads a query string; throws InvalidQueryError naming every parameter to change. */
export function parseQuery(kind: QueryKind, params: Record<string, unknown>): Query {
  const errors: QueryError[] = [];
  const fail = (name: string, reason: string) => errors.push({ pointer: `/${name}`, reason });
  const one = (name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      fail(name, 'give this parameter once, as a plain value');
      return undefined;
    }
    return v;
  };
  for (const name of Object.keys(params)) {
    if (!PARAMS[kind].includes(name)) fail(name, `unknown parameter; ${kind} takes ${PARAMS[kind].join(', ')}`);
  }
  const from = parseInstant(one('from'), 'from', fail);
  const to = parseInstant(one('to'), 'to', fail);
  if (from !== undefined && to !== undefined) {
    if (to <= from) fail('to', `the range is empty or inverted: to (${new Date(to).toISOString()}) must be after from (${new Date(from).toISOString()})`);
    else if (to - from > MAX_RANGE_DAYS * 24 * HOUR_MS) fail('to', `the range is longer than ${MAX_RANGE_DAYS} days; ask for a shorter one`);
  }
  const badgeClass = one('badgeClass');
  const issuer = one('issuer');
  if (badgeClass !== undefined && badgeClass.trim() === '') fail('badgeClass', 'give the IRI of a badge class, or leave the parameter out');
  if (issuer !== undefined && issuer.trim() === '') fail('issuer', 'give the IRI of an issuer, or leave the parameter out');
  const format = one('format');
  if (format !== undefined && format !== 'json' && format !== 'csv') fail('format', 'must be json or csv');
  const filters: Filters = { from: from ?? 0, to: to ?? 0, ...(badgeClass ? { badgeClass } : {}), ...(issuer ? { issuer } : {}) };

  let query: Query | undefined;
  switch (kind) {
    case 'counts': {
      const groupBy = one('groupBy');
      if (groupBy === undefined) fail('groupBy', `required: one of ${GROUP_BY.join(', ')}`);
      else if (!(GROUP_BY as readonly string[]).includes(groupBy)) fail('groupBy', `unknown grouping ${JSON.stringify(groupBy)}; use one of ${GROUP_BY.join(', ')}`);
      else if (groupBy === 'hour' && from !== undefined && to !== undefined && to - from > MAX_HOURLY_RANGE_HOURS * HOUR_MS) {
        fail('groupBy', `hourly counts cover at most ${MAX_HOURLY_RANGE_HOURS / 24} days; use groupBy=day, or a range of ${MAX_HOURLY_RANGE_HOURS / 24} days or less`);
      }
      const actions = actionList(one('action'), 'action', fail);
      const distinct = one('distinct');
      if (distinct !== undefined && distinct !== 'true' && distinct !== 'false') fail('distinct', 'must be true or false');
      query = { kind, ...filters, groupBy: groupBy as GroupBy, ...(actions ? { actions } : {}), distinct: distinct === 'true' };
      break;
    }
    case 'consumers':
      query = { kind, ...filters, actions: actionList(one('action'), 'action', fail) ?? [...CONSUMER_REPORT_ACTIONS] };
      break;
    case 'top-badges': {
      const by = one('by');
      if (by === undefined) fail('by', `required: an action (events of it, e.g. Issued), recipients:<action> (distinct recipients), or a ratio (${Object.keys(RATIOS).join(', ')})`);
      else if (!describeMeasure(by)) fail('by', `unknown measure ${JSON.stringify(by)}; use an Open Badges action (${BADGE_ACTIONS.join(', ')}), recipients:<action>, or one of ${Object.keys(RATIOS).join(', ')}`);
      const rawLimit = one('limit') ?? '10';
      const limit = /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : NaN;
      if (!(limit >= 1 && limit <= MAX_TOP_LIMIT)) fail('limit', `must be a whole number from 1 to ${MAX_TOP_LIMIT}`);
      query = { kind, ...filters, by: by ?? '', limit };
      break;
    }
    case 'summary':
      if (!badgeClass) fail('badgeClass', 'required: the IRI of the badge class to summarise');
      query = { kind, ...filters, badgeClass: badgeClass ?? '' };
      break;
    default:
      query = { kind, ...filters };
  }
  if (errors.length > 0 || !query) throw new InvalidQueryError(errors);
  return query;
}

function actionList(raw: string | undefined, name: string, fail: (name: string, reason: string) => void): string[] | undefined {
  if (raw === undefined) return undefined;
  const actions = raw.split(',').map((a) => a.trim());
  if (actions.some((a) => !/^[A-Za-z][A-Za-z:]*$/.test(a))) {
    fail(name, 'a comma-separated list of actions, e.g. Issued,Shared (learning events as Type:Action, e.g. GradeEvent:Graded)');
    return undefined;
  }
  return [...new Set(actions)];
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** A date (midnight UTC) or a date-time with a zone, on a whole hour; undefined with the reason recorded otherwise. */
function parseInstant(raw: string | undefined, name: string, fail: (name: string, reason: string) => void): number | undefined {
  if (raw === undefined) {
    fail(name, `required: a date (2026-01-31, midnight UTC) or a date-time on the hour (2026-01-31T08:00:00Z)`);
    return undefined;
  }
  const d = DATE.exec(raw);
  const t = d ? undefined : DATE_TIME.exec(raw);
  const ms = d || t ? Date.parse(d ? `${raw}T00:00:00Z` : raw) : NaN;
  const parts = d ?? t;
  const valid = parts !== null && parts !== undefined && !Number.isNaN(ms) && new Date(Date.UTC(Number(parts[1]), Number(parts[2]) - 1, Number(parts[3]))).getUTCDate() === Number(parts[3]);
  if (!valid) {
    fail(name, `${JSON.stringify(raw)} is not a date; write 2026-01-31 (midnight UTC) or 2026-01-31T08:00:00Z`);
    return undefined;
  }
  if (ms % HOUR_MS !== 0) {
    fail(name, `${JSON.stringify(raw)} is not on a whole hour; rollups are hourly, so use e.g. ${new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString()}`);
    return undefined;
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Answers

type Row = Record<string, string | number | null>;

export interface Answer {
  rows: Row[];
  /** Figures that are not rows (JSON only). */
  extra?: Record<string, unknown>;
}

interface ScopeLike {
  counts: Map<string, Map<number, number>>;
  dayCounts: Map<string, Map<number, number>>;
  recipients: Map<string, Map<string, Set<number>>>;
  actors: Map<string, Map<string, Set<number>>>;
}

/** The scopes a query's filters select: the whole tenant, or the badge classes matching badgeClass and issuer. */
function scopesOf(view: TenantView | undefined, q: Filters): ScopeLike[] {
  if (!view) return [];
  if (!q.badgeClass && !q.issuer) return [view.all];
  return badgeClassesOf(view, q).map(([, b]) => b);
}

function badgeClassesOf(view: TenantView | undefined, q: Filters) {
  if (!view) return [];
  return [...view.badges].filter(([iri, b]) => (q.badgeClass ? iri === q.badgeClass : iri !== '') && (!q.issuer || b.issuer === q.issuer));
}

/**
 * Calls back with the events of an action in [fromH, toH): per day (with the day's first hour) when
 * the range is whole days and hours are not needed, else per hour.
 */
function eachCount(s: ScopeLike, action: string, fromH: number, toH: number, byHour: boolean, add: (hour: number, events: number) => void): void {
  if (!byHour && fromH % 24 === 0 && toH % 24 === 0) {
    const fromD = fromH / 24;
    const toD = toH / 24;
    for (const [d, n] of s.dayCounts.get(action) ?? []) if (d >= fromD && d < toD) add(d * 24, n);
    return;
  }
  for (const [h, n] of s.counts.get(action) ?? []) if (h >= fromH && h < toH) add(h, n);
}

function sumEvents(scopes: ScopeLike[], action: string, fromH: number, toH: number): number {
  let n = 0;
  for (const s of scopes) eachCount(s, action, fromH, toH, false, (_, c) => (n += c));
  return n;
}

function distinctWho(scopes: ScopeLike[], kind: 'recipients' | 'actors', action: string, fromH: number, toH: number): Set<string> {
  const who = new Set<string>();
  for (const s of scopes) {
    const byWho = s[kind].get(action);
    if (!byWho) continue;
    for (const [id, hours] of byWho) {
      if (who.has(id)) continue;
      for (const h of hours) {
        if (h >= fromH && h < toH) {
          who.add(id);
          break;
        }
      }
    }
  }
  return who;
}

const hoursOf = (q: Filters) => ({ fromH: q.from / HOUR_MS, toH: q.to / HOUR_MS });

export function bucketStart(hour: number, groupBy: GroupBy): number {
  if (groupBy === 'hour') return hour * HOUR_MS;
  const day = Math.floor(hour / 24);
  if (groupBy === 'day') return day * 24 * HOUR_MS;
  // 1970-01-01 was a Thursday: weeks start on Monday (ISO 8601).
  if (groupBy === 'week') return (day - ((day + 3) % 7)) * 24 * HOUR_MS;
  const d = new Date(hour * HOUR_MS);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function answer(view: TenantView | undefined, q: Query): Answer {
  switch (q.kind) {
    case 'counts':
      return counts(view, q);
    case 'funnel':
      return { rows: funnel(scopesOf(view, q), q) };
    case 'ratios':
      return { rows: ratios(scopesOf(view, q), q) };
    case 'consumers':
      return { rows: consumers(view, q) };
    case 'time-to-earn':
      return timeToEarn(view, q);
    case 'top-badges':
      return { rows: topBadges(view, q) };
    case 'summary':
      return summary(view, q);
  }
}

function counts(view: TenantView | undefined, q: Extract<Query, { kind: 'counts' }>): Answer {
  const scopes = scopesOf(view, q);
  const { fromH, toH } = hoursOf(q);
  const actions = [...(q.actions ?? new Set(scopes.flatMap((s) => [...s.counts.keys()])))].sort();
  const bucketOf = new Map<number, number>();
  const bucket = (h: number) => {
    let b = bucketOf.get(h);
    if (b === undefined) bucketOf.set(h, (b = bucketStart(h, q.groupBy)));
    return b;
  };
  type Cell = { bucket: number; action: string; events: number; recipients: Set<string>; actors: Set<string> };
  const all: Cell[] = [];
  for (const action of actions) {
    const cells = new Map<number, Cell>();
    const cell = (b: number) => {
      let c = cells.get(b);
      if (!c) {
        cells.set(b, (c = { bucket: b, action, events: 0, recipients: new Set(), actors: new Set() }));
        all.push(c);
      }
      return c;
    };
    for (const s of scopes) {
      eachCount(s, action, fromH, toH, q.groupBy === 'hour', (h, n) => (cell(bucket(h)).events += n));
      if (!q.distinct) continue;
      for (const kind of ['recipients', 'actors'] as const) {
        for (const [id, hours] of s[kind].get(action) ?? []) for (const h of hours) if (h >= fromH && h < toH) cell(bucket(h))[kind].add(id);
      }
    }
  }
  const rows = all
    .filter((c) => c.events > 0)
    .sort((a, b) => a.bucket - b.bucket || (a.action < b.action ? -1 : a.action > b.action ? 1 : 0))
    .map((c) => ({ bucket: new Date(c.bucket).toISOString(), action: c.action, events: c.events, ...(q.distinct ? { recipients: c.recipients.size, actors: c.actors.size } : {}) }));
  const totals = actions
    .map((action) => ({
      action,
      events: sumEvents(scopes, action, fromH, toH),
      ...(q.distinct ? { recipients: distinctWho(scopes, 'recipients', action, fromH, toH).size, actors: distinctWho(scopes, 'actors', action, fromH, toH).size } : {}),
    }))
    .filter((t) => t.events > 0);
  return { rows, extra: { totals } };
}

function funnel(scopes: ScopeLike[], q: Filters): Row[] {
  const { fromH, toH } = hoursOf(q);
  const reached = FUNNEL_STAGES.map((stage) => distinctWho(scopes, 'recipients', stage, fromH, toH).size);
  return FUNNEL_STAGES.map((stage, i) => ({
    stage,
    recipients: reached[i]!,
    conversion: i === 0 ? null : ratio(reached[i]!, reached[i - 1]!),
    ofFirst: i === 0 ? null : ratio(reached[i]!, reached[0]!),
  }));
}

function ratios(scopes: ScopeLike[], q: Filters): Row[] {
  const { fromH, toH } = hoursOf(q);
  return Object.entries(RATIOS).map(([name, { numerator, denominator }]) => {
    const num = sumEvents(scopes, numerator, fromH, toH);
    const den = sumEvents(scopes, denominator, fromH, toH);
    return { ratio: name, numerator: num, denominator: den, value: ratio(num, den) };
  });
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : Math.round((numerator / denominator) * 1e6) / 1e6;
}

function consumers(view: TenantView | undefined, q: Extract<Query, { kind: 'consumers' }>): Row[] {
  const { fromH, toH } = hoursOf(q);
  const totals = new Map<string, number>();
  const all = !q.badgeClass && !q.issuer;
  for (const [iri, b] of view?.badges ?? []) {
    if (!all && !((q.badgeClass ? iri === q.badgeClass : iri !== '') && (!q.issuer || b.issuer === q.issuer))) continue;
    for (const action of q.actions) {
      for (const [who, hours] of b.consumers.get(action) ?? []) {
        let n = 0;
        for (const [h, c] of hours) if (h >= fromH && h < toH) n += c;
        if (n > 0) totals.set(`${action}\u0000${who}`, (totals.get(`${action}\u0000${who}`) ?? 0) + n);
      }
    }
  }
  return [...totals]
    .map(([key, events]) => {
      const [action, actor, edApp] = key.split('\u0000') as [string, string, string];
      return { action, actor, edApp, events };
    })
    .sort((a, b) => b.events - a.events || cmp(a.action, b.action) || cmp(a.actor, b.actor) || cmp(a.edApp, b.edApp));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Seconds from each recipient's start (first Assigned or Applied of the badge, else first learning event) to their first Issued within the range. */
export function earnDurations(view: TenantView | undefined, q: Filters): { issued: number; durations: number[] } {
  let issued = 0;
  const durations: number[] = [];
  for (const [, b] of badgeClassesOf(view, q)) {
    for (const [recipient, at] of b.issuedAt) {
      if (at < q.from || at >= q.to) continue;
      issued++;
      const starts = [b.goalAt.get(recipient), view!.firstLearningAt.get(recipient)].filter((s): s is number => s !== undefined && s <= at);
      if (starts.length > 0) durations.push((at - Math.min(...starts)) / 1000);
    }
  }
  return { issued, durations: durations.sort((a, b) => a - b) };
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function timeToEarn(view: TenantView | undefined, q: Filters): Answer {
  const { issued, durations } = earnDurations(view, q);
  return { rows: PERCENTILES.map((p) => ({ percentile: p, seconds: percentile(durations, p) })), extra: { recipientsIssued: issued, measured: durations.length } };
}

function topBadges(view: TenantView | undefined, q: Extract<Query, { kind: 'top-badges' }>): Row[] {
  const measure = describeMeasure(q.by)!;
  const { fromH, toH } = hoursOf(q);
  const ranked: { badgeClass: string; issuer: string; value: number }[] = [];
  for (const [iri, b] of badgeClassesOf(view, q)) {
    let value: number | null;
    if ('ratio' in measure) value = ratio(sumEvents([b], RATIOS[measure.ratio].numerator, fromH, toH), sumEvents([b], RATIOS[measure.ratio].denominator, fromH, toH));
    else if (measure.kind === 'events') value = sumEvents([b], measure.action, fromH, toH);
    else value = distinctWho([b], 'recipients', measure.action, fromH, toH).size;
    if (value !== null && value > 0) ranked.push({ badgeClass: iri, issuer: b.issuer, value });
  }
  ranked.sort((a, b) => b.value - a.value || cmp(a.badgeClass, b.badgeClass));
  return ranked.slice(0, q.limit).map((r, i) => ({ rank: i + 1, badgeClass: r.badgeClass, issuer: r.issuer, value: r.value }));
}

function summary(view: TenantView | undefined, q: Extract<Query, { kind: 'summary' }>): Answer {
  const scopes = scopesOf(view, q);
  const { fromH, toH } = hoursOf(q);
  const actions = [...new Set(scopes.flatMap((s) => [...s.counts.keys()]))].sort();
  const rows = actions
    .map((action) => ({
      action,
      events: sumEvents(scopes, action, fromH, toH),
      recipients: distinctWho(scopes, 'recipients', action, fromH, toH).size,
      actors: distinctWho(scopes, 'actors', action, fromH, toH).size,
    }))
    .filter((r) => r.events > 0);
  const earned = timeToEarn(view, q);
  return {
    rows,
    extra: {
      issuer: badgeClassesOf(view, q)[0]?.[1].issuer ?? null,
      ratios: ratios(scopes, q),
      funnel: funnel(scopes, q),
      timeToEarn: { ...earned.extra, percentiles: earned.rows },
    },
  };
}
