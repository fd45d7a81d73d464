import type { Logger } from '@badgestream/platform';
import type { Fact } from './facts.js';
import { decodeFacts } from './slice-data.js';
import { sliceCounts, type MongoReportingStore, type SliceEntry } from './store.js';
import type { ReportingView } from './view.js';

/**
 * Keeps a process's view equal to the complete slices in MongoDB: all of them at start, then the
 * slices other instances of the group write (this instance's own are applied as it writes them).
 * A slice is applied only once it counts (sliceCounts: complete, and written by the owner of its
 * offsets), so an unfinished slice, or one written by an instance that lost its partition, never is.
 */
export class ViewSync {
  constructor(
    private readonly store: MongoReportingStore,
    private readonly view: ReportingView,
    private readonly logger: Logger,
    private readonly onApplied: (entry: SliceEntry, facts: readonly Fact[]) => void = () => undefined,
  ) {}

  /** Applies every complete slice of the group; returns how many. */
  async loadAll(): Promise<number> {
    const checkpoints = await this.store.checkpointsByPartition();
    const entries = new Map((await this.store.allEntries()).map((e) => [e._id, e]));
    let applied = 0;
    for await (const { id, data } of this.store.allSliceData()) {
      const entry = entries.get(id);
      if (!entry || !sliceCounts(entry, checkpoints.get(entry.partition))) continue;
      if (this.apply(entry, decodeFacts(data))) applied++;
    }
    this.logger.info({ slices: applied }, 'reporting view loaded');
    return applied;
  }

  /** Applies the complete slices written in the last few minutes that this process has not counted. */
  async refresh(): Promise<number> {
    // Checkpoints first: a slice complete by them was written before they were read, and an
    // unfinished one removed before a checkpoint passed its offsets.
    const checkpoints = await this.store.checkpointsByPartition();
    let applied = 0;
    for (const entry of await this.store.recentEntries(3)) {
      if (this.view.hasApplied(entry._id) || !sliceCounts(entry, checkpoints.get(entry.partition))) continue;
      const data = await this.store.sliceData(entry._id);
      if (data === undefined) continue;
      if (this.apply(entry, decodeFacts(data))) applied++;
    }
    return applied;
  }

  /** Applies a slice this process wrote itself. */
  applyOwn(entry: SliceEntry, facts: readonly Fact[]): void {
    this.apply(entry, facts);
  }

  private apply(entry: SliceEntry, facts: readonly Fact[]): boolean {
    if (!this.view.apply(entry._id, facts)) return false;
    this.onApplied(entry, facts);
    return true;
  }
}
