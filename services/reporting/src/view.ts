import type { Fact } from './facts.js';

/**
 * The rollups of every tenant, held in memory and answered from: counts per badge class, action
 * and hour; who did each action in which hours (distinct recipients and actors); consumers by
 * actor and edApp; and the instants time to earn is measured between. It is built from the
 * stored slices (facts counted once per event id) and kept current as slices are applied, so a
 * query reads aggregates, never events.
 */

export const HOUR_MS = 3_600_000;

type HourCounts = Map<number, number>;
type WhoHours = Map<string, Set<number>>;

/** Actions counted towards time to earn as its start, when the learner has them for the badge. */
const GOAL_ACTIONS = new Set(['Assigned', 'Applied']);

class Scope {
  readonly counts = new Map<string, HourCounts>();
  /** The same counts by day (epoch days): a range of whole days reads 24 times fewer entries. */
  readonly dayCounts = new Map<string, Map<number, number>>();
  readonly recipients = new Map<string, WhoHours>();
  readonly actors = new Map<string, WhoHours>();

  add(f: Fact, hour: number): void {
    const counts = getOr(this.counts, f.action, () => new Map<number, number>());
    counts.set(hour, (counts.get(hour) ?? 0) + 1);
    const day = Math.floor(hour / 24);
    const days = getOr(this.dayCounts, f.action, () => new Map<number, number>());
    days.set(day, (days.get(day) ?? 0) + 1);
    if (f.recipient) addHour(getOr(this.recipients, f.action, () => new Map()), f.recipient, hour);
    if (f.actor) addHour(getOr(this.actors, f.action, () => new Map()), f.actor, hour);
  }
}

class BadgeClassView extends Scope {
  issuer = '';
  /** action → `actor\u0000edApp` → hour → events */
  readonly consumers = new Map<string, Map<string, HourCounts>>();
  /** recipient → earliest Assigned or Applied */
  readonly goalAt = new Map<string, number>();
  /** recipient → earliest Issued */
  readonly issuedAt = new Map<string, number>();
}

export class TenantView {
  /** Every event of the tenant, whatever badge class (learning events included). */
  readonly all = new Scope();
  /** By badge class IRI; '' holds badge events that name no badge class. */
  readonly badges = new Map<string, BadgeClassView>();
  /** learner → earliest learning (non-badge) event: the start of time to earn when nothing was assigned or applied for. */
  readonly firstLearningAt = new Map<string, number>();
  events = 0;

  add(f: Fact): void {
    const hour = Math.floor(f.time / HOUR_MS);
    this.events++;
    this.all.add(f, hour);
    if (!f.badge) {
      if (f.recipient) setMin(this.firstLearningAt, f.recipient, f.time);
      return;
    }
    const b = getOr(this.badges, f.badgeClass, () => new BadgeClassView());
    b.add(f, hour);
    // The issuer is whatever an event embedding the badge class says; the smallest wins a
    // disagreement, so the answer does not depend on the order events came in.
    if (f.issuer && (!b.issuer || f.issuer < b.issuer)) b.issuer = f.issuer;
    const consumers = getOr(b.consumers, f.action, () => new Map<string, HourCounts>());
    const byHour = getOr(consumers, `${f.actor}\u0000${f.edApp}`, () => new Map<number, number>());
    byHour.set(hour, (byHour.get(hour) ?? 0) + 1);
    if (f.recipient) {
      if (GOAL_ACTIONS.has(f.action)) setMin(b.goalAt, f.recipient, f.time);
      if (f.action === 'Issued') setMin(b.issuedAt, f.recipient, f.time);
    }
  }
}

export class ReportingView {
  private readonly tenants = new Map<string, TenantView>();
  private readonly appliedSlices = new Set<string>();

  tenant(name: string): TenantView | undefined {
    return this.tenants.get(name);
  }

  hasApplied(sliceId: string): boolean {
    return this.appliedSlices.has(sliceId);
  }

  /** Applies the facts of a slice once; a slice applied before is ignored. */
  apply(sliceId: string, facts: readonly Fact[]): boolean {
    if (this.appliedSlices.has(sliceId)) return false;
    this.appliedSlices.add(sliceId);
    for (const f of facts) getOr(this.tenants, f.tenant, () => new TenantView()).add(f);
    return true;
  }

  get sliceCount(): number {
    return this.appliedSlices.size;
  }
}

function getOr<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function addHour(who: WhoHours, id: string, hour: number): void {
  let hours = who.get(id);
  if (!hours) who.set(id, (hours = new Set()));
  hours.add(hour);
}

function setMin(map: Map<string, number>, key: string, value: number): void {
  const current = map.get(key);
  if (current === undefined || value < current) map.set(key, value);
}
