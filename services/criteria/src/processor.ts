import {
  UnusableEventError,
  applyEvent,
  emptyProgress,
  isRelevant,
  progressFromFacts,
  succeed,
  toFact,
  type AwardRecord,
  type Criteria,
  type Effect,
  type Fact,
  type LearnerProgress,
} from '@badgestream/criteria';
import {
  Counter,
  Gauge,
  Histogram,
  ProgressCheckpointConflict,
  criteriaVersionKey,
  progressKey,
  type Assignment,
  type ConsumedRecord,
  type HistoryEvent,
  type Logger,
  type MongoEventHistory,
  type MongoLearnerProgress,
  type MongoOutbox,
  type OutboxEntry,
  type PoisonedRecord,
  type Registry,
} from '@badgestream/platform';
import type { BackfillRecorder, BackfillTracker } from './backfill-progress.js';

export interface ActiveCriteriaSource {
  /** Active criteria of every tenant, by tenant. */
  activeByTenant(): Promise<ReadonlyMap<string, readonly Criteria[]>>;
}

export interface CriteriaProcessorDeps {
  criteria: ActiveCriteriaSource;
  progress: MongoLearnerProgress;
  outbox: MongoOutbox;
  /** The events seen, stored before anything they cause: the source of truth for recovery, dry runs and backfill. */
  history: MongoEventHistory;
  /** The topic whose partitions this processor is given (the consumer group is the progress store's). */
  topic: string;
  logger: Logger;
  metrics: Registry;
  now?: () => string;
  /** Told the outbox entries each batch stored (new ones only), for the dispatcher to deliver at once. */
  onStored?: (entries: OutboxEntry[]) => void;
  /** Told how each backfill goes, for operators to follow (GET /admin/criteria/:version/backfill). */
  backfills?: BackfillRecorder;
}

/** The progress of one partition's learners, held in memory by the instance that owns the partition. */
interface PartitionState {
  partition: number;
  /** The checkpoint generation the snapshots in MongoDB stand at (0: none yet). */
  gen: number;
  /** The generation that started the partition's current collection of snapshots (see MongoLearnerProgress). */
  since: number | undefined;
  /** Snapshots written into that collection: past ROTATE_AFTER times the keys, the next flush rotates. */
  written: number;
  /** The highest generation of the partition's snapshots: the next flush writes one above it. */
  highestGen: number;
  /** The next offset to apply: every record before it has been applied. */
  next: bigint;
  /** The criteria versions applied to every record before `next` (criteriaVersionKey). */
  criteria: Set<string>;
  progress: Map<string, LearnerProgress>;
  /** Keys changed since the last flush. */
  dirty: Set<string>;
  /** What the checkpoint says: flushing is needed when `next` or `criteria` moved past it. */
  flushedNext: bigint;
  flushedCriteria: string;
  /** Serializes the work on the partition (a slice, a backfill, loading). */
  lock: Promise<unknown>;
}

/** Past any offset: a replay to the end of the stored history. */
const END_OF_HISTORY = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A partition's snapshots are rotated into a new collection (every key written once, the old
 * collection dropped) when its current one holds this many times as many snapshots as there are
 * keys, and at least ROTATE_MIN: the rewrite costs at most one snapshot for every two written.
 */
const ROTATE_AFTER = 3;
const ROTATE_MIN = 5000;

/** Changes computed from some events, installed into the partition's state only once their effects are durable. */
interface Changes {
  progress: Map<string, LearnerProgress>;
  effects: Effect[];
}

/**
 * The criteria consumer's batch handler. The event history is the source of truth: every slice
 * is stored in it (MongoEventHistory) before anything it causes. The progress of the learners of
 * the partitions this instance owns is kept in memory; effects are written to the outbox before
 * the slice's offsets are committed; progress is written to MongoDB in the background (flush), as
 * snapshots with a per-partition checkpoint (MongoLearnerProgress).
 *
 * An instance that takes a partition over (a restart, a rebalance) loads the snapshots up to the
 * checkpoint, then applies the history after the checkpoint's offset, in offset order, as live
 * processing did: the same effects under the same ids, which the outbox already holds. A criteria
 * version that becomes active is evaluated over the whole history of each partition (backfill),
 * taking over from the learner's progress under the version it replaces (succeed); the versions
 * applied are part of the checkpoint, so a crash during a backfill redoes it, with the same effects.
 */
export class CriteriaProcessor {
  private readonly states = new Map<number, PartitionState>();
  private readonly loading = new Map<number, Promise<PartitionState>>();
  private memberId: string | undefined;
  /** The partitions of the topic the group gave this instance. */
  private owned = new Set<number>();
  private readonly applied: Counter<'outcome'>;
  private readonly effectsTotal: Counter<'kind'>;
  private readonly loads: Histogram<'kind'>;
  private readonly flushLag: Gauge<'partition'>;
  private readonly flushes: Counter<'outcome'>;
  private readonly rotations: Counter;
  private readonly sliceSteps: Histogram<'step'>;
  private flushing: Promise<void> | undefined;

  constructor(private readonly deps: CriteriaProcessorDeps) {
    const registers = [deps.metrics];
    this.applied = new Counter({ name: 'badgestream_criteria_events_total', help: 'Events by outcome: relevant (applied to some criteria), irrelevant, poisoned', labelNames: ['outcome'], registers });
    this.effectsTotal = new Counter({ name: 'badgestream_criteria_effects_total', help: 'Effects written to the outbox, by kind', labelNames: ['kind'], registers });
    this.loads = new Histogram({
      name: 'badgestream_criteria_partition_load_seconds',
      help: 'Time to take a partition over (load: snapshots and history after the checkpoint) or to evaluate new criteria versions over its history (backfill)',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.flushLag = new Gauge({ name: 'badgestream_criteria_unflushed_records', help: 'Records applied in memory but not yet covered by the progress checkpoint in MongoDB, by partition', labelNames: ['partition'], registers });
    this.sliceSteps = new Histogram({
      name: 'badgestream_criteria_slice_step_seconds',
      help: 'Time a slice of records spends in each step: history (stored), state (partition loaded and criteria backfilled), apply (engine), outbox (effects stored)',
      labelNames: ['step'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.rotations = new Counter({ name: 'badgestream_criteria_snapshot_rotations_total', help: 'Flushes that wrote every key of a partition into a new collection of snapshots and dropped the superseded ones', registers });
    this.flushes = new Counter({ name: 'badgestream_criteria_flushes_total', help: 'Progress flushes by outcome: written, conflict (another instance owns the partition now), failed', labelNames: ['outcome'], registers });
  }

  private now(): string {
    return (this.deps.now ?? (() => new Date().toISOString()))();
  }

  /** The group gave this member its partitions: forget those it no longer owns (all, if it was out of the group meanwhile). */
  readonly onAssignment = ({ memberId, partitions }: Assignment): void => {
    const owned = new Set(partitions.get(this.deps.topic) ?? []);
    this.owned = owned;
    this.refreshed = undefined;
    if (memberId === '') {
      // Stopped or crashed: what is in memory is still right and is flushed; the next join, under
      // a new member id, drops it.
      this.memberId = memberId;
      return;
    }
    const rejoined = this.memberId !== undefined && this.memberId !== memberId;
    this.memberId = memberId;
    for (const partition of [...this.states.keys()]) if (rejoined || !owned.has(partition)) this.drop(partition);
    this.deps.logger.info({ partitions: [...owned].sort((a, b) => a - b), rejoined }, 'criteria partitions assigned');
  };

  readonly handleBatch = async (records: ConsumedRecord[]): Promise<PoisonedRecord[]> => {
    if (records.length === 0) return [];
    const partition = records[0]!.partition;
    const poisoned: PoisonedRecord[] = [];
    const events: (HistoryEvent & { record: ConsumedRecord })[] = [];
    for (const record of records) {
      if (record.partition !== partition) throw new Error(`a slice spans partitions ${partition} and ${record.partition}`);
      const tenant = record.headers['badgestream-tenant'];
      const event = record.value as Record<string, unknown> | undefined;
      if (!tenant || !record.key.startsWith(`${tenant}|`) || !event || typeof event !== 'object') {
        poisoned.push({ record, reason: 'not a Badgestream event record: the badgestream-tenant header must be set and the key must be "<tenant>|<learner>"' });
        this.applied.inc({ outcome: 'poisoned' });
        continue;
      }
      events.push({ tenant, learner: record.key.slice(tenant.length + 1), offset: record.offset, event, record });
    }
    const timer = this.sliceSteps.startTimer({ step: 'history' });
    // History first: whatever this slice causes can be recomputed from it.
    await this.deps.history.append(partition, events.map(({ tenant, learner, offset, event }) => ({ tenant, learner, offset, event })));
    timer();
    const end = BigInt(records.at(-1)!.offset) + 1n;
    const stateTimer = this.sliceSteps.startTimer({ step: 'state' });
    const active = await this.deps.criteria.activeByTenant();
    const state = await this.ownedState(partition);
    await this.locked(state, async () => {
      await this.backfill(state, active);
      stateTimer();
      const applyTimer = this.sliceSteps.startTimer({ step: 'apply' });
      const changes: Changes = { progress: new Map(), effects: [] };
      for (const e of events) {
        const outcome = this.apply(state, changes, e, active.get(e.tenant) ?? []);
        if (typeof outcome !== 'string') poisoned.push({ record: e.record, reason: outcome.poisoned });
        this.applied.inc({ outcome: typeof outcome === 'string' ? outcome : 'poisoned' });
      }
      applyTimer();
      const outboxTimer = this.sliceSteps.startTimer({ step: 'outbox' });
      await this.commit(state, changes, end);
      outboxTimer();
    });
    return poisoned;
  };

  /** Applies one event to every active criteria of its tenant that cares, into `changes`. */
  private apply(state: PartitionState, changes: Changes, e: HistoryEvent, criteria: readonly Criteria[]): 'relevant' | 'irrelevant' | { poisoned: string } {
    const pending = new Map<string, LearnerProgress>();
    const effects: Effect[] = [];
    const now = this.now();
    let relevant = false;
    for (const c of criteria) {
      if (!isRelevant(c, e.event)) continue;
      relevant = true;
      const key = progressKey(e.tenant, e.learner, c.badgeClass, c.version);
      const current = changes.progress.get(key) ?? state.progress.get(key);
      try {
        const result = applyEvent(current, e.event, c, { tenant: e.tenant, learner: e.learner, now });
        if (result.progress !== current) pending.set(key, result.progress);
        effects.push(...result.effects);
      } catch (error) {
        if (!(error instanceof UnusableEventError)) throw error;
        // The whole event is refused: none of its criteria take it.
        return { poisoned: `criteria ${c.badgeClass} v${c.version}: ${error.message}` };
      }
    }
    for (const [key, progress] of pending) changes.progress.set(key, progress);
    changes.effects.push(...effects);
    return relevant ? 'relevant' : 'irrelevant';
  }

  /** Effects to the outbox (durable, idempotent by id), then the changes into memory. */
  private async commit(state: PartitionState, changes: Changes, next: bigint, criteria?: Set<string>): Promise<void> {
    const stored = await this.deps.outbox.add(changes.effects);
    this.deps.onStored?.(stored);
    for (const e of changes.effects) this.effectsTotal.inc({ kind: e.kind });
    for (const [key, progress] of changes.progress) {
      state.progress.set(key, progress);
      state.dirty.add(key);
    }
    if (next > state.next) state.next = next;
    if (criteria) state.criteria = criteria;
    this.flushLag.set({ partition: String(state.partition) }, Number(state.next - state.flushedNext));
  }

  private locked<T>(state: PartitionState, work: () => Promise<T>): Promise<T> {
    const run = state.lock.then(work);
    state.lock = run.catch(() => undefined);
    return run;
  }

  /** The partition's state, loaded from MongoDB when this instance has not got it in memory. */
  private ownedState(partition: number): Promise<PartitionState> {
    const known = this.states.get(partition);
    if (known) return Promise.resolve(known);
    let loading = this.loading.get(partition);
    if (!loading) {
      loading = this.load(partition).finally(() => this.loading.delete(partition));
      this.loading.set(partition, loading);
    }
    return loading;
  }

  private async load(partition: number): Promise<PartitionState> {
    const started = Date.now();
    const checkpoint = await this.deps.progress.checkpoint(this.deps.topic, partition);
    const gen = checkpoint?.gen ?? 0;
    const from = BigInt(checkpoint?.offset ?? '0');
    const criteria = new Set(checkpoint?.criteria ?? []);
    const { progress, highestGen, snapshots } = await this.deps.progress.loadPartition(partition, checkpoint);
    const state: PartitionState = {
      partition,
      gen,
      since: checkpoint?.since,
      written: snapshots,
      highestGen,
      next: from,
      criteria,
      progress,
      dirty: new Set(),
      flushedNext: from,
      flushedCriteria: [...criteria].sort().join('\n'),
      lock: Promise.resolve(),
    };
    // The records applied since the checkpoint, as they were applied: same order, same criteria.
    const byTenant = new Map<string, Criteria[]>();
    const definitions = await this.deps.criteria.activeByTenant();
    for (const [tenant, list] of definitions) {
      const applied = list.filter((c) => criteria.has(criteriaVersionKey(tenant, c.badgeClass, c.version)));
      if (applied.length) byTenant.set(tenant, applied);
    }
    const changes: Changes = { progress: new Map(), effects: [] };
    let replayed = 0;
    let last = from - 1n;
    for await (const e of this.deps.history.replay(partition, [...byTenant.keys()], from, END_OF_HISTORY)) {
      this.apply(state, changes, e, byTenant.get(e.tenant) ?? []);
      last = BigInt(e.offset);
      replayed++;
    }
    await this.commit(state, changes, last + 1n);
    this.states.set(partition, state);
    this.loads.observe({ kind: 'load' }, (Date.now() - started) / 1000);
    this.deps.logger.info({ partition, gen, from: from.toString(), replayed, learners: state.progress.size, effects: changes.effects.length, ms: Date.now() - started }, 'partition taken over');
    return state;
  }

  /**
   * Criteria versions active now but not yet applied to the partition are evaluated over its
   * whole stored history (for a partition without a checkpoint, every version), each learner taking over from their progress under another
   * version of the badge class; retired versions leave the set.
   */
  private async backfill(state: PartitionState, active: ReadonlyMap<string, readonly Criteria[]>): Promise<void> {
    const wanted = new Set<string>();
    const fresh: { tenant: string; criteria: Criteria }[] = [];
    for (const [tenant, list] of active) {
      for (const c of list) {
        const key = criteriaVersionKey(tenant, c.badgeClass, c.version);
        wanted.add(key);
        if (!state.criteria.has(key)) fresh.push({ tenant, criteria: c });
      }
    }
    if (fresh.length === 0) {
      if ([...state.criteria].some((k) => !wanted.has(k))) state.criteria = wanted;
      return;
    }
    const tracker = this.deps.backfills?.begin(state.partition, fresh);
    try {
      await this.evaluateOverHistory(state, fresh, wanted, tracker);
    } catch (error) {
      await tracker?.failed(error);
      throw error;
    }
    await tracker?.finish();
  }

  /** The backfill proper: the fresh versions evaluated over the partition's history, settled against the ledger. */
  private async evaluateOverHistory(state: PartitionState, fresh: readonly { tenant: string; criteria: Criteria }[], wanted: ReadonlySet<string>, tracker: BackfillTracker | undefined): Promise<void> {
    const started = Date.now();
    const now = this.now();
    const changes: Changes = { progress: new Map(), effects: [] };
    const tenants = [...new Set(fresh.map((f) => f.tenant))];
    const mineOf = new Map(tenants.map((tenant) => [tenant, fresh.filter((f) => f.tenant === tenant).map((f) => f.criteria)]));
    // What was announced, read before the history: every effect in it was caused by events
    // stored before it was written, so the history read next covers them, even while another
    // consumer still finishes a slice of this partition. The outcome is settled against it.
    const announcedOf = new Map<string, Map<string, Effect[]>>();
    for (const tenant of tenants) {
      const badgeClasses = new Set(mineOf.get(tenant)!.map((c) => c.badgeClass));
      const announced = new Map<string, Effect[]>();
      for (const effect of await this.deps.outbox.effectsOf(tenant)) {
        if (!badgeClasses.has(effect.badgeClass)) continue;
        const key = `${effect.learner}|${effect.badgeClass}`;
        let list = announced.get(key);
        if (!list) announced.set(key, (list = []));
        list.push(effect);
      }
      announcedOf.set(tenant, announced);
    }
    // Facts per tenant, criteria and learner, from one pass over the partition's history for all
    // those tenants: each stored segment is read once, however many tenants have new versions.
    const factsOf = new Map(tenants.map((tenant) => [tenant, mineOf.get(tenant)!.map(() => new Map<string, Fact[]>())]));
    // The whole stored history, also past `state.next`: records stored but never committed (a
    // crash before the commit) come again, and applying them again changes nothing.
    for await (const e of this.deps.history.replay(state.partition, tenants, 0n, END_OF_HISTORY, tracker)) {
      tracker?.evaluated(e.tenant);
      const facts = factsOf.get(e.tenant)!;
      mineOf.get(e.tenant)!.forEach((c, i) => {
        let fact: Fact | undefined;
        try {
          fact = toFact(c, e.event);
        } catch (error) {
          if (!(error instanceof UnusableEventError)) throw error;
        }
        if (!fact) return;
        const byLearner = facts[i]!;
        let list = byLearner.get(e.learner);
        if (!list) byLearner.set(e.learner, (list = []));
        if (!list.some((f) => f.id === fact.id)) list.push(fact);
      });
    }
    for (const tenant of tenants) {
      const announced = announcedOf.get(tenant)!;
      const facts = factsOf.get(tenant)!;
      mineOf.get(tenant)!.forEach((c, i) => {
        // Learners with progress under any version of the badge class (this one too: reactivated)
        // are settled too, taking over from the version holding an award, else the one with the
        // longest record of effects, so that effect ids never repeat.
        const previousOf = new Map<string, { key: string; progress: LearnerProgress }>();
        for (const [key, p] of state.progress) {
          if (p.tenant !== tenant || p.badgeClass !== c.badgeClass) continue;
          const progress = changes.progress.get(key) ?? p;
          const best = previousOf.get(p.learner);
          if (!best || (!best.progress.award && (progress.award || progress.history.length > best.progress.history.length))) previousOf.set(p.learner, { key, progress });
        }
        for (const learner of new Set([...facts[i]!.keys(), ...previousOf.keys()])) {
          const ctx = { tenant, learner, now };
          const learnerFacts = facts[i]!.get(learner);
          const next = learnerFacts?.length ? progressFromFacts(c, learnerFacts, ctx) : emptyProgress(c, ctx);
          // What was announced is the outbox's record (the award announced and not ended, and the
          // effects so far, which number the next ones); progress in memory stands in for it when
          // it knows as much (it may not: a snapshot older than the last effects).
          const inMemory = previousOf.get(learner);
          const fromLedger = ledgerOf(announced.get(`${learner}|${c.badgeClass}`), next);
          const previous = fromLedger && (!inMemory || fromLedger.progress.history.length > inMemory.progress.history.length) ? fromLedger : inMemory;
          const result = succeed(previous?.progress, next, now);
          const key = progressKey(tenant, learner, c.badgeClass, c.version);
          if (inMemory && inMemory.key !== key) changes.progress.set(inMemory.key, { ...inMemory.progress, award: null });
          changes.progress.set(key, result.progress);
          changes.effects.push(...result.effects);
        }
      });
    }
    const criteria = new Set([...state.criteria].filter((k) => wanted.has(k)));
    for (const f of fresh) criteria.add(criteriaVersionKey(f.tenant, f.criteria.badgeClass, f.criteria.version));
    await this.commit(state, changes, state.next, criteria);
    this.loads.observe({ kind: 'backfill' }, (Date.now() - started) / 1000);
    this.deps.logger.info(
      { partition: state.partition, criteria: fresh.map((f) => `${f.criteria.badgeClass} v${f.criteria.version}`), before: state.next.toString(), effects: changes.effects.length, ms: Date.now() - started },
      'criteria versions evaluated over the history',
    );
  }

  /**
   * Brings every owned partition up to the active criteria, without waiting for its next record:
   * a version activated while no events come is still evaluated over the history at once.
   */
  async refresh(): Promise<void> {
    const active = await this.deps.criteria.activeByTenant();
    const signature = [...active].flatMap(([tenant, list]) => list.map((c) => criteriaVersionKey(tenant, c.badgeClass, c.version))).sort().join('\n');
    // Also after a partition was dropped (another instance wrote it): it is loaded again.
    if (signature === this.refreshed && [...this.owned].every((p) => this.states.has(p))) return;
    for (const partition of [...this.owned]) {
      const state = await this.ownedState(partition);
      if (this.states.get(partition) !== state) continue;
      await this.locked(state, () => this.backfill(state, active));
    }
    this.refreshed = signature;
  }

  /** The active criteria every owned partition was last brought up to by refresh. */
  private refreshed: string | undefined;

  private drop(partition: number): void {
    this.states.delete(partition);
    this.flushLag.remove({ partition: String(partition) });
  }

  /** Partitions whose state is in memory. */
  ownedPartitions(): number[] {
    return [...this.states.keys()].sort((a, b) => a - b);
  }

  /**
   * Writes the progress changed since the last flush as snapshots, and moves each partition's
   * checkpoint. One flush at a time; a partition another instance took over is dropped.
   */
  flush(): Promise<void> {
    this.flushing ??= this.flushAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** A flush of everything applied so far, after the one in flight (for a graceful stop). */
  async flushAllNow(): Promise<void> {
    await this.flushing;
    await this.flush();
  }

  private async flushAll(): Promise<void> {
    for (const state of [...this.states.values()]) {
      const criteria = [...state.criteria].sort();
      if (state.dirty.size === 0 && state.next === state.flushedNext && criteria.join('\n') === state.flushedCriteria) continue;
      // Taken at one instant: the changes and the offset they reflect.
      const gen = Math.max(state.gen, state.highestGen) + 1;
      // The first flush of a partition starts its collection too.
      const rotate = state.gen === 0 || state.written >= Math.max(ROTATE_MIN, ROTATE_AFTER * state.progress.size);
      const changed = new Map([...(rotate ? state.progress.keys() : state.dirty)].map((key) => [key, state.progress.get(key)!]));
      const next = state.next;
      const since = rotate ? gen : state.since;
      state.dirty = new Set();
      // Whatever happens to this flush, its generation is used.
      state.highestGen = gen;
      try {
        await this.deps.progress.flush(this.deps.topic, state.partition, state.gen === 0 ? undefined : { gen: state.gen, since: state.since }, { gen, offset: next.toString(), criteria, ...(since !== undefined ? { since } : {}) }, changed);
        state.gen = gen;
        state.since = since;
        state.written = rotate ? changed.size : state.written + changed.size;
        if (rotate) this.rotations.inc();
        state.flushedNext = next;
        state.flushedCriteria = criteria.join('\n');
        this.flushes.inc({ outcome: 'written' });
        this.flushLag.set({ partition: String(state.partition) }, Number(state.next - state.flushedNext));
      } catch (error) {
        if (error instanceof ProgressCheckpointConflict) {
          this.flushes.inc({ outcome: 'conflict' });
          if (this.states.get(state.partition) === state) this.drop(state.partition);
          this.deps.logger.warn({ partition: state.partition }, 'another instance wrote this partition\'s progress: dropping it from memory');
          continue;
        }
        this.flushes.inc({ outcome: 'failed' });
        for (const key of changed.keys()) state.dirty.add(key);
        this.deps.logger.warn({ err: error, partition: state.partition }, 'progress flush failed; trying again at the next flush');
      }
    }
  }
}

/**
 * A learner's announced effects for one badge class as a progress to take over from: the award
 * announced and not ended since, if any, and the effects as its record (so ids never repeat).
 */
function ledgerOf(effects: readonly Effect[] | undefined, next: LearnerProgress): { key: string; progress: LearnerProgress } | undefined {
  if (!effects?.length) return undefined;
  let award: AwardRecord | null = null;
  for (const effect of effects) {
    if (effect.kind === 'award') {
      award = { awardId: effect.awardId, cause: effect.causedBy, awardedAt: effect.awardedAt, provenance: effect.provenance };
      if (effect.expiresAt !== undefined) award.expiresAt = effect.expiresAt;
    } else if (award?.awardId === effect.awardId) {
      award = null;
    }
  }
  // Under the new version's key: nothing is written for the version it was announced under.
  return {
    key: progressKey(next.tenant, next.learner, next.badgeClass, next.criteriaVersion),
    progress: { ...next, facts: [], met: false, awards: [], criteriaVersion: effects.at(-1)!.criteriaVersion, award, history: [...effects] },
  };
}
