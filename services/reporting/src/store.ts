import type { Collection, Db } from 'mongodb';

/**
 * Where reporting keeps what it has counted, for one consumer group, in four small-document
 * collections that are only ever inserted into (plus one checkpoint per partition):
 *
 * - `reporting_slices`: one small entry per applied slice of a partition (its offsets, when),
 *   written first: it names what a slice wrote, so an unfinished slice can be found and removed;
 * - `reporting_slice_data`: the slice's facts (slice-data.ts), one document;
 * - `reporting_seen`: the event ids of the slice, to recognise an event redelivered at a new
 *   offset; purged once older than the duplicate window;
 * - `reporting_checkpoints`: per partition, the last offset whose slice is complete. A slice
 *   counts once its last offset is at or below its partition's checkpoint; a slice beyond it is
 *   unfinished (a crash between the writes) and is removed by the next owner of the partition.
 */

export interface SliceEntry {
  _id: string;
  group: string;
  partition: number;
  fromOffset: number;
  toOffset: number;
  /** Minute of the write (epoch minutes): recent entries are found by equality on it. */
  tick: number;
  at: Date;
  events: number;
}

interface SliceData {
  _id: string;
  group: string;
  partition: number;
  data: string;
}

interface SeenIds {
  _id: string;
  group: string;
  partition: number;
  /** Latest receivedAt (epoch ms) of the slice's events. */
  receivedMax: number;
  /** The slice's event ids, newline-separated. */
  ids: string;
}

interface Checkpoint {
  _id: string;
  group: string;
  partition: number;
  offset: number;
  at: Date;
}

export const TICK_MS = 60_000;

export class MongoReportingStore {
  private readonly slices: Collection<SliceEntry>;
  private readonly data: Collection<SliceData>;
  private readonly seen: Collection<SeenIds>;
  private readonly checkpoints: Collection<Checkpoint>;

  constructor(
    db: Db,
    readonly group: string,
  ) {
    this.slices = db.collection('reporting_slices');
    this.data = db.collection('reporting_slice_data');
    this.seen = db.collection('reporting_seen');
    this.checkpoints = db.collection('reporting_checkpoints');
  }

  async init(): Promise<void> {
    await Promise.all([this.slices.createIndex({ group: 1, tick: 1 }), this.slices.createIndex({ group: 1, partition: 1 }), this.seen.createIndex({ group: 1, partition: 1 })]);
  }

  /** Writes a slice (entry first, then its facts and ids), then moves the partition's checkpoint past it. */
  async writeSlice(entry: Omit<SliceEntry, 'group' | 'tick' | 'at'>, data: string, ids: string[], receivedMax: number): Promise<SliceEntry> {
    const at = new Date();
    const full: SliceEntry = { ...entry, group: this.group, tick: Math.floor(at.getTime() / TICK_MS), at };
    await this.slices.insertOne(full);
    await Promise.all([
      this.data.insertOne({ _id: entry._id, group: this.group, partition: entry.partition, data }),
      this.seen.insertOne({ _id: entry._id, group: this.group, partition: entry.partition, receivedMax, ids: ids.join('\n') }),
    ]);
    await this.checkpoints.updateOne(
      { _id: checkpointId(this.group, entry.partition) },
      { $set: { group: this.group, partition: entry.partition, offset: entry.toOffset, at: new Date() } },
      { upsert: true },
    );
    return full;
  }

  /** The last complete offset of each partition (-1: none). */
  async checkpointsByPartition(): Promise<Map<number, number>> {
    const docs = await this.checkpoints.find({ group: this.group }).toArray();
    return new Map(docs.map((d) => [d.partition, d.offset]));
  }

  async checkpoint(partition: number): Promise<number> {
    const doc = await this.checkpoints.findOne({ _id: checkpointId(this.group, partition) });
    return doc?.offset ?? -1;
  }

  /**
   * Takes over a partition: removes the slices written beyond its checkpoint (a writer stopped
   * between the writes), and returns the checkpoint and the ids of events received within the
   * window before the latest one.
   */
  async takeOver(partition: number, windowMs: number): Promise<{ checkpoint: number; seen: Map<string, number> }> {
    const checkpoint = await this.checkpoint(partition);
    const entries = await this.slices.find({ group: this.group, partition }).project<{ _id: string; toOffset: number }>({ _id: 1, toOffset: 1 }).toArray();
    const unfinished = entries.filter((e) => e.toOffset > checkpoint).map((e) => e._id);
    for (const id of unfinished) {
      await Promise.all([this.data.deleteOne({ _id: id }), this.seen.deleteOne({ _id: id })]);
      await this.slices.deleteOne({ _id: id });
    }
    const seenDocs = await this.seen.find({ group: this.group, partition }).toArray();
    const latest = Math.max(0, ...seenDocs.map((d) => d.receivedMax));
    const seen = new Map<string, number>();
    for (const doc of seenDocs) {
      if (doc.receivedMax < latest - windowMs || unfinished.includes(doc._id)) continue;
      for (const id of doc.ids.split('\n')) if (id) seen.set(id, doc.receivedMax);
    }
    return { checkpoint, seen };
  }

  /** Forgets the event ids of slices received before the cutoff. */
  async purgeSeen(partition: number, beforeMs: number): Promise<number> {
    const result = await this.seen.deleteMany({ group: this.group, partition, receivedMax: { $lt: beforeMs } });
    return result.deletedCount;
  }

  async allEntries(): Promise<SliceEntry[]> {
    return this.slices.find({ group: this.group }).toArray();
  }

  async recentEntries(ticks: number): Promise<SliceEntry[]> {
    const now = Math.floor(Date.now() / TICK_MS);
    const lists = await Promise.all(Array.from({ length: ticks }, (_, i) => this.slices.find({ group: this.group, tick: now - i }).toArray()));
    return lists.flat();
  }

  async sliceData(id: string): Promise<string | undefined> {
    return (await this.data.findOne({ _id: id }))?.data;
  }

  /** Every slice's facts of this group, one document at a time. */
  async *allSliceData(): AsyncGenerator<{ id: string; data: string }> {
    for await (const doc of this.data.find({ group: this.group })) yield { id: doc._id, data: doc.data };
  }
}

function checkpointId(group: string, partition: number): string {
  return `${group}|${partition}`;
}
