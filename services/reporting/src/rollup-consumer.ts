import { randomBytes } from 'node:crypto';
import { Counter, type Assignment, type ConsumedRecord, type Logger, type PoisonedRecord, type Registry } from '@badgestream/platform';
import { factOf, type Fact } from './facts.js';
import { encodeFacts } from './slice-data.js';
import { LostPartitionError, type MongoReportingStore, type SliceEntry } from './store.js';

interface PartitionState {
  /** This instance's ownership of the partition, recorded when it took the partition over. */
  owner: string;
  /** Last offset whose slice is complete: records at or below it were counted already. */
  checkpoint: number;
  /** Events counted (tenant and event id), with when they were received: a redelivery at a new offset is skipped. */
  seen: Map<string, number>;
  latestReceived: number;
  prunedAt: number;
}

export interface RollupConsumerOptions {
  store: MongoReportingStore;
  logger: Logger;
  metrics: Registry;
  /** How long after an event was received a copy of it (same id) is still recognised. */
  duplicateWindowMs: number;
  /** Called with each slice once it is durable: the view counts it. */
  onSlice: (entry: SliceEntry, facts: readonly Fact[]) => void;
}

/**
 * The rollup consumer's handler: for each slice of a partition, keeps the facts of events not
 * counted before (by offset against the partition's checkpoint, and by event id within the
 * duplicate window), writes them as one slice, and only then lets the offsets be committed.
 */
export class RollupConsumer {
  private readonly partitions = new Map<number, Promise<PartitionState>>();
  private memberId = '';
  private readonly applied: Counter;
  private readonly skipped: Counter<'reason'>;
  private readonly slices: Counter;

  constructor(private readonly options: RollupConsumerOptions) {
    const registers = [options.metrics];
    this.applied = new Counter({ name: 'badgestream_reporting_events_applied_total', help: 'Events counted into the rollups', registers });
    this.skipped = new Counter({ name: 'badgestream_reporting_events_skipped_total', help: 'Records not counted: duplicate (an event id counted before), replayed (an offset at or below the checkpoint), not-an-event', labelNames: ['reason'], registers });
    this.slices = new Counter({ name: 'badgestream_reporting_slices_total', help: 'Slices written to MongoDB', registers });
  }

  /** Drops partitions this member no longer owns (all of them when it rejoined as another member). */
  readonly onAssignment = (assignment: Assignment): void => {
    const owned = new Set(assignment.partitions.get('caliper.events') ?? []);
    if (assignment.memberId !== this.memberId) {
      this.partitions.clear();
      this.memberId = assignment.memberId;
    }
    for (const p of [...this.partitions.keys()]) if (!owned.has(p)) this.partitions.delete(p);
  };

  private state(partition: number): Promise<PartitionState> {
    let state = this.partitions.get(partition);
    if (!state) {
      state = this.options.store.takeOver(partition, this.options.duplicateWindowMs).then(({ owner, checkpoint, seen }) => {
        const latestReceived = latest(seen.values());
        this.options.logger.info({ partition, checkpoint, seenIds: seen.size }, 'counting partition from its checkpoint');
        return { owner, checkpoint, seen, latestReceived, prunedAt: latestReceived };
      });
      state.catch(() => this.partitions.delete(partition));
      this.partitions.set(partition, state);
    }
    return state;
  }

  async handleBatch(records: readonly ConsumedRecord[]): Promise<PoisonedRecord[]> {
    if (records.length === 0) return [];
    const partition = records[0]!.partition;
    const statePromise = this.state(partition);
    const state = await statePromise;
    const facts: Fact[] = [];
    const ids = new Map<string, number>();
    let fromOffset: number | undefined;
    let replayed = 0;
    let duplicates = 0;
    let notEvents = 0;
    for (const record of records) {
      const offset = Number(record.offset);
      if (offset <= state.checkpoint) {
        replayed++;
        continue;
      }
      fromOffset ??= offset;
      const fact = factOf(record.headers, record.value);
      if ('skip' in fact) {
        notEvents++;
        continue;
      }
      // A copy is the same event of the same tenant: a report relayed to an issuer keeps the id
      // it has in the consumer tenant, often in the same partition, and counts for both.
      const key = seenKey(fact);
      if (state.seen.has(key) || ids.has(key)) {
        duplicates++;
        continue;
      }
      ids.set(key, fact.receivedAt);
      facts.push(fact);
    }
    const toOffset = Number(records[records.length - 1]!.offset);
    const countSkipped = () => {
      if (replayed) this.skipped.inc({ reason: 'replayed' }, replayed);
      if (duplicates) this.skipped.inc({ reason: 'duplicate' }, duplicates);
      if (notEvents) this.skipped.inc({ reason: 'not-an-event' }, notEvents);
    };
    if (fromOffset === undefined) {
      countSkipped();
      return [];
    }
    let entry: SliceEntry | undefined;
    try {
      if (facts.length === 0) {
        // Nothing to count, but the checkpoint moves on: these records are settled even once their
        // ids have left the duplicate window.
        await this.options.store.moveCheckpoint(partition, state.owner, toOffset);
      } else {
        const id = `${this.options.store.group}|${partition}|${fromOffset}|${randomBytes(4).toString('hex')}`;
        entry = await this.options.store.writeSlice({ _id: id, partition, fromOffset, toOffset, events: facts.length, owner: state.owner }, encodeFacts(facts), [...ids.keys()], latest(ids.values()));
      }
    } catch (error) {
      // Another instance (or this one, rejoined) owns the partition now: count it again from its
      // checkpoint when the batch is retried, if it is still ours.
      if (error instanceof LostPartitionError && this.partitions.get(partition) === statePromise) this.partitions.delete(partition);
      throw error;
    }
    // Durable: only now does this process remember the slice as counted.
    countSkipped();
    state.checkpoint = toOffset;
    if (!entry) return [];
    for (const [key, at] of ids) state.seen.set(key, at);
    state.latestReceived = Math.max(state.latestReceived, latest(ids.values()));
    this.applied.inc(facts.length);
    this.slices.inc();
    this.options.onSlice(entry, facts);
    await this.prune(partition, state);
    return [];
  }

  /** Forgets ids received longer than the window before the latest, every tenth of the window. */
  private async prune(partition: number, state: PartitionState): Promise<void> {
    const window = this.options.duplicateWindowMs;
    if (state.latestReceived - state.prunedAt < window / 10) return;
    const cutoff = state.latestReceived - window;
    for (const [id, at] of state.seen) if (at < cutoff) state.seen.delete(id);
    state.prunedAt = state.latestReceived;
    await this.options.store.purgeSeen(partition, cutoff);
  }
}

/** The largest of many numbers (spreading millions of them into Math.max overflows the stack). */
function latest(values: Iterable<number>): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return max;
}

/** How a counted event is remembered: its tenant and its id. */
function seenKey(fact: Pick<Fact, 'tenant' | 'eventId'>): string {
  return `${fact.tenant}|${fact.eventId}`;
}
