import type { Collection, Db } from 'mongodb';
import { pack, unpack, type Packed } from './packed.js';

/** One event as kept for history: whose it is, where it came from, and the event itself. */
export interface HistoryEvent {
  tenant: string;
  learner: string;
  /** Kafka offset of the record in its partition. */
  offset: string;
  event: Record<string, unknown>;
}

/** How chunks stored before `packed` held their events: each as JSON text. */
interface StoredEvent {
  tenant: string;
  learner: string;
  offset: string;
  json: string;
}

interface HistoryChunk {
  /** `<partition>@<first offset>-<last offset>`: the same slice stored twice is one chunk. */
  _id: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  tenants: string[];
  /** The slice's events (HistoryEvent[]), packed. */
  packed?: Packed;
  /** The events of a chunk stored before `packed` (still read). */
  events?: StoredEvent[];
  storedAt: Date;
}

/** A chunk's entry in the index: small, so finding the chunks of a range never reads the events. */
interface ChunkEntry {
  _id: string;
  partition: number;
  /** The offsets as numbers, for range filters (Kafka offsets stay far below 2^53). */
  first: number;
  last: number;
  tenants: string[];
  events: number;
  storedAt: Date;
}

const DUPLICATE_KEY = 11000;

/** A stored chunk as the index lists it: what progress figures of a replay are made of. */
export interface ChunkSummary {
  partition: number;
  tenants: readonly string[];
  /** Events the chunk holds, of every tenant. */
  events: number;
}

/** Told how far a replay got, in chunks (see MongoEventHistory.replay). */
export interface ReplayObserver {
  /** Once, before the first event: every chunk the replay goes through. */
  planned?(chunks: readonly ChunkSummary[]): void;
  /** Each of those chunks once gone through: its events yielded, or the chunk not found (see chunksOf). */
  passed?(chunk: ChunkSummary): void;
}

/** Offsets of a partition per history segment (collection). */
export const HISTORY_SEGMENT_OFFSETS = 10_000;

const segmentOf = (offset: number) => Math.floor(offset / HISTORY_SEGMENT_OFFSETS);

/**
 * The events the criteria consumer has seen, kept in MongoDB: the source of truth from which a
 * consumer rebuilds the progress of a partition it takes over, and over which a new or changed
 * criteria version is evaluated (dry run, backfill). The consumer stores each slice of records it
 * processes as one chunk, before it writes anything the slice caused: one insert per slice rather
 * than one per event, because FerretDB, which the local stack runs, inserts a batch about ten
 * times faster than it updates a document.
 *
 * Chunks live in segments, one collection per Kafka partition and HISTORY_SEGMENT_OFFSETS offsets
 * (`event_history_p<partition>_s<segment>`, by the chunk's first offset), and each has a small
 * entry in `event_history_index` (bounds and tenants), written with the chunk. FerretDB answers
 * every query, `_id` lookups included, by reading the whole collection (a second per lookup at a
 * few hundred chunks), so a reader scans the small index, then reads each segment it needs once:
 * a consumer taking a partition over reads the last segment or two, not the partition's history.
 *
 * Chunks are insert-only. A slice replayed after a crash with the same bounds is the same chunk;
 * with other bounds its events are stored twice, which readers ignore (each offset once, each
 * event id once). A chunk whose index entry was never written (a crash between the two inserts)
 * is invisible, as is an entry whose chunk was never written (readers skip it); either way the
 * slice's records, never committed, are consumed and stored again.
 */
export class MongoEventHistory {
  private readonly db: Db;
  private readonly index: Collection<ChunkEntry>;
  private readonly segments = new Map<string, Collection<HistoryChunk>>();

  constructor(db: Db) {
    this.db = db;
    this.index = db.collection<ChunkEntry>('event_history_index');
  }

  async init(): Promise<void> {
    await this.index.createIndex({ partition: 1, last: 1 });
    await this.index.createIndex({ tenants: 1 });
  }

  private segment(partition: number, first: number): Collection<HistoryChunk> {
    const name = `event_history_p${partition}_s${segmentOf(first)}`;
    let chunks = this.segments.get(name);
    if (!chunks) this.segments.set(name, (chunks = this.db.collection<HistoryChunk>(name)));
    return chunks;
  }

  /**
   * The chunks of these index entries, in the order of their first offsets: each segment read once.
   * `missing` is told the entries whose chunk is not there (written a moment after its entry, or never).
   */
  private async *chunksOf(entries: readonly ChunkEntry[], missing?: (entry: ChunkEntry) => void): AsyncGenerator<HistoryChunk> {
    const bySegment = new Map<string, ChunkEntry[]>();
    for (const entry of entries) {
      const key = `${entry.partition}:${segmentOf(entry.first)}`;
      bySegment.set(key, [...(bySegment.get(key) ?? []), entry]);
    }
    const order = [...bySegment.values()].sort((a, b) => a[0]!.partition - b[0]!.partition || a[0]!.first - b[0]!.first);
    for (const list of order) {
      const wanted = new Set(list.map((e) => e._id));
      const chunks = (await this.segment(list[0]!.partition, list[0]!.first).find({}).toArray()).filter((c) => wanted.has(c._id));
      if (missing && chunks.length < list.length) {
        const found = new Set(chunks.map((c) => c._id));
        for (const entry of list) if (!found.has(entry._id)) missing(entry);
      }
      chunks.sort((a, b) => Number(a.firstOffset) - Number(b.firstOffset) || Number(b.lastOffset) - Number(a.lastOffset));
      yield* chunks;
    }
  }

  /** Stores a slice of one partition's records (in offset order). Storing it again changes nothing. */
  async append(partition: number, events: readonly HistoryEvent[]): Promise<void> {
    if (events.length === 0) return;
    const storedAt = new Date();
    const chunk: HistoryChunk = {
      _id: `${partition}@${events[0]!.offset}-${events.at(-1)!.offset}`,
      partition,
      firstOffset: events[0]!.offset,
      lastOffset: events.at(-1)!.offset,
      tenants: [...new Set(events.map((e) => e.tenant))].sort(),
      packed: await pack(events.map(({ tenant, learner, offset, event }) => ({ tenant, learner, offset, event }))),
      storedAt,
    };
    // Both at once: a reader that finds the entry before its chunk reads the segment without it,
    // as if it had read a moment earlier (the slice's effects and offsets come after both).
    await Promise.all([
      insertOnce(this.segment(partition, Number(chunk.firstOffset)), chunk),
      insertOnce(this.index, { _id: chunk._id, partition, first: Number(chunk.firstOffset), last: Number(chunk.lastOffset), tenants: chunk.tenants, events: events.length, storedAt }),
    ]);
  }

  /**
   * The stored events of some tenants in one partition with offsets in [from, before), in offset
   * order, each offset once: what a consumer taking the partition over applies after its
   * checkpoint, or a new criteria version is evaluated over. `observer` is told which chunks the
   * replay goes through, then each chunk once its events were yielded (how far it got).
   */
  async *replay(partition: number, tenants: readonly string[], from: bigint, before: bigint, observer?: ReplayObserver): AsyncGenerator<HistoryEvent> {
    if (tenants.length === 0 || from >= before) {
      observer?.planned?.([]);
      return;
    }
    const wanted = new Set(tenants);
    const entries = (await this.index.find({ partition }).toArray()).filter((e) => e.last >= Number(from) && e.first < Number(before) && e.tenants.some((t) => wanted.has(t)));
    observer?.planned?.(entries.map(summaryOf));
    const byId = new Map(entries.map((e) => [e._id, e]));
    let next = from;
    for await (const chunk of this.chunksOf(entries, observer?.passed && ((entry) => observer.passed!(summaryOf(entry))))) {
      for (const stored of await eventsIn(chunk)) {
        const offset = BigInt(stored.offset);
        // Chunks of slices cut differently overlap: each offset once, in order.
        if (offset < next || offset >= before) continue;
        next = offset + 1n;
        if (wanted.has(stored.tenant)) yield stored;
      }
      observer?.passed?.(summaryOf(byId.get(chunk._id)!));
    }
  }

  /**
   * Per partition, the events (of every tenant) of the stored chunks that hold some of this
   * tenant's: what a backfill of the tenant's criteria goes through there, as the history stands now.
   */
  async storedEventsOf(tenant: string): Promise<Map<number, number>> {
    const byPartition = new Map<number, number>();
    for (const entry of await this.index.find({ tenants: tenant }, { projection: { partition: 1, events: 1 } }).toArray()) {
      byPartition.set(entry.partition, (byPartition.get(entry.partition) ?? 0) + entry.events);
    }
    return byPartition;
  }

  /** Every stored event of a tenant, each once (by event id), in no particular order. */
  async *eventsOf(tenant: string): AsyncGenerator<HistoryEvent> {
    const seen = new Set<string>();
    for await (const chunk of this.chunksOf(await this.index.find({ tenants: tenant }).toArray())) {
      for (const stored of await eventsIn(chunk)) {
        if (stored.tenant !== tenant) continue;
        const id = typeof stored.event.id === 'string' ? stored.event.id : `${chunk.partition}@${stored.offset}`;
        if (seen.has(id)) continue;
        seen.add(id);
        yield stored;
      }
    }
  }
}

function summaryOf(entry: ChunkEntry): ChunkSummary {
  return { partition: entry.partition, tenants: entry.tenants, events: entry.events };
}

/** A chunk's events, in offset order, whichever way the chunk holds them. */
async function eventsIn(chunk: HistoryChunk): Promise<HistoryEvent[]> {
  if (chunk.packed) return unpack<HistoryEvent[]>(chunk.packed);
  return (chunk.events ?? []).map(({ tenant, learner, offset, json }) => ({ tenant, learner, offset, event: JSON.parse(json) as Record<string, unknown> }));
}

async function insertOnce<T extends { _id: string }>(collection: Collection<T>, doc: T): Promise<void> {
  try {
    await collection.insertOne(doc as Parameters<Collection<T>['insertOne']>[0]);
  } catch (error) {
    if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
  }
}
