import type { Collection, Db } from 'mongodb';

/** One event as kept for history: whose it is, where it came from, and the event itself. */
export interface HistoryEvent {
  tenant: string;
  learner: string;
  /** Kafka offset of the record in its partition. */
  offset: string;
  event: Record<string, unknown>;
}

/** How an event is stored: as JSON text, because Caliper keys may hold '.' or start with '$' (extension IRIs, JSON-LD), which FerretDB refuses as document keys. */
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
  events: StoredEvent[];
  storedAt: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * The events the criteria consumer has seen, kept in MongoDB (collection `event_history`) so that
 * a new or changed criteria version can be evaluated against history (dry run, backfill). The
 * consumer stores each slice of records it processes as one chunk, before it writes anything the
 * slice caused: one insert per slice rather than one per event, because FerretDB, which the local
 * stack runs, inserts a batch about ten times faster than it updates a document.
 *
 * Chunks are insert-only. A slice replayed after a crash with the same bounds is the same chunk;
 * with other bounds its events are stored twice, which readers ignore: criteria outcomes depend on
 * the set of events, deduplicated by event id.
 */
export class MongoEventHistory {
  private readonly chunks: Collection<HistoryChunk>;

  constructor(db: Db) {
    this.chunks = db.collection<HistoryChunk>('event_history');
  }

  async init(): Promise<void> {
    await this.chunks.createIndex({ tenants: 1 });
  }

  /** Stores a slice of one partition's records (in offset order). Storing it again changes nothing. */
  async append(partition: number, events: readonly HistoryEvent[]): Promise<void> {
    if (events.length === 0) return;
    const chunk: HistoryChunk = {
      _id: `${partition}@${events[0]!.offset}-${events.at(-1)!.offset}`,
      partition,
      firstOffset: events[0]!.offset,
      lastOffset: events.at(-1)!.offset,
      tenants: [...new Set(events.map((e) => e.tenant))].sort(),
      events: events.map(({ tenant, learner, offset, event }) => ({ tenant, learner, offset, json: JSON.stringify(event) })),
      storedAt: new Date(),
    };
    try {
      await this.chunks.insertOne(chunk);
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
  }

  /** Every stored event of a tenant, each once (by event id), in no particular order. */
  async *eventsOf(tenant: string): AsyncGenerator<HistoryEvent> {
    const seen = new Set<string>();
    for await (const chunk of this.chunks.find({ tenants: tenant })) {
      for (const stored of chunk.events) {
        if (stored.tenant !== tenant) continue;
        const event = JSON.parse(stored.json) as Record<string, unknown>;
        const id = typeof event.id === 'string' ? event.id : `${chunk.partition}@${stored.offset}`;
        if (seen.has(id)) continue;
        seen.add(id);
        yield { tenant: stored.tenant, learner: stored.learner, offset: stored.offset, event };
      }
    }
  }
}
