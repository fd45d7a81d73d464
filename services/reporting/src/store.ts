import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { BadgestreamError } from '@badgestream/platform';

/**
 * Where reporting keeps what it has counted, for one consumer group, in four small-document
 * collections that are only ever inserted into (plus one checkpoint per partition):
 *
 * - `reporting_slices`: one small entry per applied slice of a partition (its offsets, when),
 *   written first: it names what a slice wrote, so an unfinished slice can be found and removed;
 * - `reporting_slice_data`: the slice's facts (slice-data.ts), one document;
 * - `reporting_seen`: the event ids of the slice, to recognise an event redelivered at a new
 *   offset; purged once older than the duplicate window;
 * - `reporting_checkpoints`: per partition, the last offset whose slice is complete, and who owns
 *   which offsets: each instance that takes a partition over records itself as the owner from the
 *   checkpoint on. A slice counts once its last offset is at or below the checkpoint and its writer
 *   owned its offsets: an unfinished slice (a crash between the writes) and a slice written by an
 *   instance that lost the partition meanwhile never count, and the next owner removes the former.
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
  /** The instance's ownership of the partition it was written under (see takeOver). */
  owner: string;
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

export interface PartitionCheckpoint {
  offset: number;
  /** Owners in the order they took the partition over, each from the offset after the checkpoint then. */
  owners: { owner: string; from: number }[];
}

interface Checkpoint extends PartitionCheckpoint {
  _id: string;
  group: string;
  partition: number;
  /** The current owner: only it may move the checkpoint. */
  owner: string;
  at: Date;
}

/** A slice written for a partition by an owner that no longer holds it: its writes do not count. */
export class LostPartitionError extends BadgestreamError {
  constructor(partition: number) {
    super(`partition ${partition} was taken over by another instance while this one wrote a slice; the slice does not count`, { code: 'PARTITION_LOST', retriable: true });
  }
}

/** Whether a slice counts: complete (at or below the checkpoint) and written by the owner of its offsets. */
export function sliceCounts(entry: Pick<SliceEntry, 'fromOffset' | 'toOffset' | 'owner'>, checkpoint: PartitionCheckpoint | undefined): boolean {
  if (!checkpoint || entry.toOffset > checkpoint.offset) return false;
  let owner: string | undefined;
  for (const o of checkpoint.owners) if (o.from <= entry.fromOffset) owner = o.owner;
  return owner === entry.owner;
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

  /**
   * Writes a slice (entry first, then its facts and ids), then moves the partition's checkpoint
   * past it; throws LostPartitionError when another instance took the partition over meanwhile.
   */
  async writeSlice(entry: Omit<SliceEntry, 'group' | 'tick' | 'at'>, data: string, ids: string[], receivedMax: number): Promise<SliceEntry> {
    const at = new Date();
    const full: SliceEntry = { ...entry, group: this.group, tick: Math.floor(at.getTime() / TICK_MS), at };
    await this.slices.insertOne(full);
    await Promise.all([
      this.data.insertOne({ _id: entry._id, group: this.group, partition: entry.partition, data }),
      this.seen.insertOne({ _id: entry._id, group: this.group, partition: entry.partition, receivedMax, ids: ids.join('\n') }),
    ]);
    await this.moveCheckpoint(entry.partition, entry.owner, entry.toOffset);
    return full;
  }

  /** Moves a partition's checkpoint; throws LostPartitionError when the owner no longer holds the partition. */
  async moveCheckpoint(partition: number, owner: string, offset: number): Promise<void> {
    const moved = await this.checkpoints.updateOne({ _id: checkpointId(this.group, partition), owner }, { $set: { offset, at: new Date() } });
    if (moved.matchedCount === 0) throw new LostPartitionError(partition);
  }

  /** The checkpoint and owners of each partition. */
  async checkpointsByPartition(): Promise<Map<number, PartitionCheckpoint>> {
    const docs = await this.checkpoints.find({ group: this.group }).toArray();
    return new Map(docs.map((d) => [d.partition, { offset: d.offset, owners: d.owners }]));
  }

  /**
   * Takes over a partition: records a new owner from the offset after the checkpoint on, removes
   * the slices written beyond the checkpoint (a writer stopped between the writes), and returns
   * the owner, the checkpoint and the ids of events received within the window before the latest.
   */
  async takeOver(partition: number, windowMs: number): Promise<{ owner: string; checkpoint: number; seen: Map<string, number> }> {
    const id = checkpointId(this.group, partition);
    const checkpoint = (await this.checkpoints.findOne({ _id: id }))?.offset ?? -1;
    const owner = randomBytes(8).toString('hex');
    await this.checkpoints.updateOne(
      { _id: id },
      { $set: { group: this.group, partition, owner, at: new Date() }, $setOnInsert: { offset: -1 }, $push: { owners: { owner, from: checkpoint + 1 } } },
      { upsert: true },
    );
    const entries = await this.slices.find({ group: this.group, partition }).project<{ _id: string; toOffset: number }>({ _id: 1, toOffset: 1 }).toArray();
    const unfinished = entries.filter((e) => e.toOffset > checkpoint).map((e) => e._id);
    for (const id of unfinished) {
      await Promise.all([this.data.deleteOne({ _id: id }), this.seen.deleteOne({ _id: id })]);
      await this.slices.deleteOne({ _id: id });
    }
    const seenDocs = await this.seen.find({ group: this.group, partition }).toArray();
    const latest = seenDocs.reduce((max, d) => Math.max(max, d.receivedMax), 0);
    const seen = new Map<string, number>();
    for (const doc of seenDocs) {
      if (doc.receivedMax < latest - windowMs || unfinished.includes(doc._id)) continue;
      for (const id of doc.ids.split('\n')) if (id) seen.set(id, doc.receivedMax);
    }
    return { owner, checkpoint, seen };
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
