import { UnusableEventError, applyEvent, isRelevant, type Criteria, type Effect, type LearnerProgress } from '@badgestream/criteria';
import {
  BadgestreamError,
  Counter,
  progressKey,
  type ConsumedRecord,
  type Logger,
  type HistoryEvent,
  type MongoEventHistory,
  type MongoLearnerProgress,
  type MongoOutbox,
  type PoisonedRecord,
  type Registry,
  type StoredProgress,
} from '@badgestream/platform';

export interface ActiveCriteriaSource {
  /** Active criteria of every tenant, by tenant. */
  activeByTenant(): Promise<ReadonlyMap<string, readonly Criteria[]>>;
}

export interface CriteriaProcessorDeps {
  criteria: ActiveCriteriaSource;
  progress: MongoLearnerProgress;
  outbox: MongoOutbox;
  /** Where the events are kept for dry runs and backfill; stored before anything they cause. */
  history?: MongoEventHistory;
  logger: Logger;
  metrics: Registry;
  now?: () => string;
  /**
   * Progress documents kept in memory between batches. Records are keyed by learner, so the
   * instance that owns a partition is the only one saving its learners' progress and can skip
   * reading it back; a save is still compare-and-set on the cached revision, so a document
   * another instance saved meanwhile (after a rebalance) is a conflict, evicted and re-read.
   */
  cacheLimit?: number;
}

/** Another consumer saved a progress document since we read it; the batch is applied again. */
export class ProgressConflictError extends BadgestreamError {
  constructor(key: string) {
    super(`progress ${key} changed while the batch was applied`, { code: 'PROGRESS_CONFLICT', retriable: true });
  }
}

/** Progress documents kept in memory by default (see CriteriaProcessorDeps.cacheLimit). */
export const DEFAULT_PROGRESS_CACHE = 50_000;

interface Work {
  key: string;
  record: ConsumedRecord;
  event: Record<string, unknown>;
  criteria: Criteria;
  tenant: string;
  learner: string;
}

/**
 * The criteria consumer's batch handler: keeps the slice in the event history (for dry runs),
 * applies each event to the progress of every active criteria of its tenant that cares about it,
 * writes the resulting effects to the outbox, then saves the progress. Every write is idempotent
 * (by chunk bounds, effect id, event id), so replaying a batch after a crash (offsets are
 * committed only after this resolves) changes nothing and loses nothing.
 */
export class CriteriaProcessor {
  private readonly applied: Counter<'outcome'>;
  private readonly effects: Counter<'kind'>;
  private readonly cache = new Map<string, StoredProgress>();
  private readonly cacheLimit: number;

  constructor(private readonly deps: CriteriaProcessorDeps) {
    this.cacheLimit = deps.cacheLimit ?? DEFAULT_PROGRESS_CACHE;
    this.applied = new Counter({ name: 'badgestream_criteria_events_total', help: 'Events by outcome: relevant (applied to some criteria), irrelevant, poisoned', labelNames: ['outcome'], registers: [deps.metrics] });
    this.effects = new Counter({ name: 'badgestream_criteria_effects_total', help: 'Effects written to the outbox, by kind', labelNames: ['kind'], registers: [deps.metrics] });
  }

  readonly handleBatch = async (records: ConsumedRecord[]): Promise<PoisonedRecord[]> => {
    const started = Date.now();
    const byTenant = await this.deps.criteria.activeByTenant();
    const poisoned: PoisonedRecord[] = [];
    const work: Work[] = [];
    const toKeep = new Map<number, HistoryEvent[]>();
    for (const record of records) {
      const tenant = record.headers['badgestream-tenant'];
      const event = record.value as Record<string, unknown> | undefined;
      if (!tenant || !record.key.startsWith(`${tenant}|`) || !event || typeof event !== 'object') {
        poisoned.push({ record, reason: 'not a Badgestream event record: the badgestream-tenant header must be set and the key must be "<tenant>|<learner>"' });
        continue;
      }
      const learner = record.key.slice(tenant.length + 1);
      let kept = toKeep.get(record.partition);
      if (!kept) toKeep.set(record.partition, (kept = []));
      kept.push({ tenant, learner, offset: record.offset, event });
      let relevant = false;
      for (const criteria of byTenant.get(tenant) ?? []) {
        if (!isRelevant(criteria, event)) continue;
        relevant = true;
        work.push({ key: progressKey(tenant, learner, criteria.badgeClass, criteria.version), record, event, criteria, tenant, learner });
      }
      this.applied.inc({ outcome: relevant ? 'relevant' : 'irrelevant' });
    }
    if (this.deps.history) for (const [partition, events] of toKeep) await this.deps.history.append(partition, events);
    if (work.length === 0) return poisoned;

    const stored = new Map<string, StoredProgress>();
    const missing: string[] = [];
    for (const { key } of work) {
      const cached = this.cache.get(key);
      if (cached) stored.set(key, cached);
      else missing.push(key);
    }
    for (const [key, s] of await this.deps.progress.getMany(missing)) stored.set(key, s);
    const current = new Map<string, LearnerProgress>();
    for (const [key, s] of stored) current.set(key, s.progress);
    const changed = new Set<string>();
    const effects: Effect[] = [];
    const now = (this.deps.now ?? (() => new Date().toISOString()))();
    const poisonedOffsets = new Set<string>();
    for (const w of work) {
      if (poisonedOffsets.has(`${w.record.partition}@${w.record.offset}`)) continue;
      try {
        const result = applyEvent(current.get(w.key), w.event, w.criteria, { tenant: w.tenant, learner: w.learner, now });
        if (result.progress !== current.get(w.key)) {
          current.set(w.key, result.progress);
          changed.add(w.key);
        }
        effects.push(...result.effects);
      } catch (error) {
        if (!(error instanceof UnusableEventError)) throw error;
        poisonedOffsets.add(`${w.record.partition}@${w.record.offset}`);
        poisoned.push({ record: w.record, reason: `criteria ${w.criteria.badgeClass} v${w.criteria.version}: ${error.message}` });
      }
    }

    // Effects first: see MongoOutbox for why this order loses nothing.
    await this.deps.outbox.add(effects);
    for (const e of effects) this.effects.inc({ kind: e.kind });
    const entries = [...changed].map((key) => ({ key, expectedRev: stored.get(key)?.rev ?? null, progress: current.get(key)! }));
    let conflicts: string[];
    try {
      conflicts = await this.deps.progress.saveMany(entries);
    } catch (error) {
      // Some saves may have landed: what the cache holds of these keys is no longer known.
      for (const { key } of entries) this.cache.delete(key);
      throw error;
    }
    const conflicted = new Set(conflicts);
    if (this.cache.size + entries.length > this.cacheLimit) this.cache.clear();
    for (const e of entries) {
      if (conflicted.has(e.key)) this.cache.delete(e.key);
      else this.cache.set(e.key, { rev: (e.expectedRev ?? 0) + 1, progress: e.progress });
    }
    if (conflicts.length) throw new ProgressConflictError(conflicts[0]!);
    this.deps.logger.debug({ records: records.length, work: work.length, saved: changed.size, effects: effects.length, ms: Date.now() - started }, 'batch applied');
    return poisoned;
  };
}
