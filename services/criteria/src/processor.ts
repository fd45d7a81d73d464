import { UnusableEventError, applyEvent, isRelevant, type Criteria, type Effect, type LearnerProgress } from '@badgestream/criteria';
import {
  BadgestreamError,
  Counter,
  progressKey,
  type ConsumedRecord,
  type Logger,
  type MongoLearnerProgress,
  type MongoOutbox,
  type PoisonedRecord,
  type Registry,
} from '@badgestream/platform';

export interface ActiveCriteriaSource {
  /** Active criteria of every tenant, by tenant. */
  activeByTenant(): Promise<ReadonlyMap<string, readonly Criteria[]>>;
}

export interface CriteriaProcessorDeps {
  criteria: ActiveCriteriaSource;
  progress: MongoLearnerProgress;
  outbox: MongoOutbox;
  logger: Logger;
  metrics: Registry;
  now?: () => string;
}

/** Another consumer saved a progress document since we read it; the batch is applied again. */
export class ProgressConflictError extends BadgestreamError {
  constructor(key: string) {
    super(`progress ${key} changed while the batch was applied`, { code: 'PROGRESS_CONFLICT', retriable: true });
  }
}

const SAVE_CONCURRENCY = 16;

interface Work {
  key: string;
  record: ConsumedRecord;
  event: Record<string, unknown>;
  criteria: Criteria;
  tenant: string;
  learner: string;
}

/**
 * The criteria consumer's batch handler: applies each event to the progress of every active
 * criteria of its tenant that cares about it, writes the resulting effects to the outbox, then
 * saves the progress. Both writes are idempotent by event id, so replaying a batch after a
 * crash (offsets are committed only after this resolves) changes nothing and loses nothing.
 */
export class CriteriaProcessor {
  private readonly applied: Counter<'outcome'>;
  private readonly effects: Counter<'kind'>;

  constructor(private readonly deps: CriteriaProcessorDeps) {
    this.applied = new Counter({ name: 'badgestream_criteria_events_total', help: 'Events by outcome: relevant (applied to some criteria), irrelevant, poisoned', labelNames: ['outcome'], registers: [deps.metrics] });
    this.effects = new Counter({ name: 'badgestream_criteria_effects_total', help: 'Effects written to the outbox, by kind', labelNames: ['kind'], registers: [deps.metrics] });
  }

  readonly handleBatch = async (records: ConsumedRecord[]): Promise<PoisonedRecord[]> => {
    const started = Date.now();
    const byTenant = await this.deps.criteria.activeByTenant();
    const poisoned: PoisonedRecord[] = [];
    const work: Work[] = [];
    for (const record of records) {
      const tenant = record.headers['badgestream-tenant'];
      const event = record.value as Record<string, unknown> | undefined;
      if (!tenant || !record.key.startsWith(`${tenant}|`) || !event || typeof event !== 'object') {
        poisoned.push({ record, reason: 'not a Badgestream event record: the badgestream-tenant header must be set and the key must be "<tenant>|<learner>"' });
        continue;
      }
      const learner = record.key.slice(tenant.length + 1);
      let relevant = false;
      for (const criteria of byTenant.get(tenant) ?? []) {
        if (!isRelevant(criteria, event)) continue;
        relevant = true;
        work.push({ key: progressKey(tenant, learner, criteria.badgeClass, criteria.version), record, event, criteria, tenant, learner });
      }
      this.applied.inc({ outcome: relevant ? 'relevant' : 'irrelevant' });
    }
    if (work.length === 0) return poisoned;

    const stored = await this.deps.progress.getMany(work.map((w) => w.key));
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
    // Distinct documents: saved side by side, a few at a time.
    const keys = [...changed];
    for (let i = 0; i < keys.length; i += SAVE_CONCURRENCY) {
      const slice = keys.slice(i, i + SAVE_CONCURRENCY);
      const saved = await Promise.all(slice.map((key) => this.deps.progress.save(key, stored.get(key)?.rev ?? null, current.get(key)!)));
      const conflict = slice.find((_, j) => !saved[j]);
      if (conflict) throw new ProgressConflictError(conflict);
    }
    this.deps.logger.debug({ records: records.length, work: work.length, saved: changed.size, effects: effects.length, ms: Date.now() - started }, 'batch applied');
    return poisoned;
  };
}
