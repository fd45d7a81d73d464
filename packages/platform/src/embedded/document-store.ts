import { join } from 'node:path';
import { ObjectId, type Db } from 'mongodb';
import { BadgestreamError } from '../errors.js';
import { Journal } from './journal.js';
import { UnsupportedOperationError, aggregate, applyUpdate, clone, getPath, keyOf, matches, project, seedFromFilter, sortDocuments, type Doc, type SortSpec } from './documents.js';

/** MongoDB's code for a duplicate key, which the repositories read to mean "already there". */
const DUPLICATE_KEY = 11000;

// Shaped as the driver's errors (a numeric `code`, `writeErrors` by index), which the repositories read.
class DuplicateKeyError extends Error {
  readonly code = DUPLICATE_KEY;
  constructor(collection: string, index: string, key: string) {
    super(`E11000 duplicate key error collection: ${collection} index: ${index} dup key: ${key}`);
  }
}

class BulkWriteError extends Error {
  readonly code = DUPLICATE_KEY;
  constructor(
    readonly writeErrors: { code: number; index: number; errmsg: string }[],
    readonly insertedCount: number,
  ) {
    super(`${writeErrors.length} of the documents were not inserted: ${writeErrors[0]!.errmsg}`);
  }
}

interface UniqueIndex {
  name: string;
  fields: string[];
  entries: Map<string, string>;
}

/** One collection's documents by `_id` key, with its unique indexes. */
class CollectionData {
  readonly docs = new Map<string, Doc>();
  readonly unique: UniqueIndex[] = [];
}

const EMPTY = new CollectionData();
const SNAPSHOT = 'documents.snapshot';
const JOURNAL = 'documents.journal';

type Change = { op: 'put'; c: string; d: Doc } | { op: 'del'; c: string; id: unknown } | { op: 'drop'; c: string };

/**
 * The embedded mode's document store: collections in memory, every change journalled to the
 * data directory before the operation returns, and the whole rebuilt from a snapshot plus the
 * journal at open. It serves the repositories written for MongoDB through `db()`, within the
 * subset ARCHITECTURE.md fixes (documents.ts), with MongoDB's single-document atomicity: each
 * operation's changes are one journal append.
 */
export class EmbeddedDocumentStore {
  private readonly collections = new Map<string, CollectionData>();
  private closed = false;
  private snapshotBytes = 0;
  private journalBytes = 0;

  private constructor(
    private readonly directory: string,
    private readonly journal: Journal,
    private readonly compactAtBytes: number,
  ) {}

  /**
   * Loads the snapshot and the journal of a data directory, then folds them into a new snapshot.
   * While open, the journal is folded again when it outgrows `compactAtBytes` (64 MiB) and twice
   * the snapshot.
   */
  static open(directory: string, options: { compactAtBytes?: number } = {}): EmbeddedDocumentStore {
    const snapshot = Journal.open(join(directory, SNAPSHOT));
    snapshot.journal.close();
    const opened = Journal.open(join(directory, JOURNAL));
    const store = new EmbeddedDocumentStore(directory, opened.journal, options.compactAtBytes ?? 64 << 20);
    for (const change of [...snapshot.records, ...opened.records]) store.apply(change as Change);
    store.compact();
    return store;
  }

  /** Folds the journal into a new snapshot: every document once, and an empty journal. */
  private compact(): void {
    this.snapshotBytes = Journal.rewrite(join(this.directory, SNAPSHOT), this.allDocuments());
    this.journal.truncate();
    this.journalBytes = 0;
  }

  private *allDocuments(): Iterable<Doc> {
    for (const [c, data] of this.collections) for (const d of data.docs.values()) yield { op: 'put', c, d };
  }

  private apply(change: Change): void {
    if (change.op === 'drop') {
      this.collections.delete(change.c);
      return;
    }
    if (change.op === 'put') this.data(change.c).docs.set(keyOf(change.d._id), change.d);
    else this.collections.get(change.c)?.docs.delete(keyOf(change.id));
  }

  /** A collection's data, without creating it (reads do not create collections). */
  peek(name: string): CollectionData {
    return this.collections.get(name) ?? EMPTY;
  }

  data(name: string): CollectionData {
    let data = this.collections.get(name);
    if (!data) this.collections.set(name, (data = new CollectionData()));
    return data;
  }

  /** Applies changes in memory and journals them as one append. */
  commit(changes: Change[]): void {
    if (this.closed)
      throw new BadgestreamError('the embedded store is closed', {
        code: 'CLOSED',
      });
    if (changes.length === 0) return;
    this.journalBytes += this.journal.append(changes as Doc[]);
    for (const change of changes) this.apply(change);
    // Documents rewritten over and over (progress, offsets) would grow the journal without end.
    if (this.journalBytes > Math.max(this.compactAtBytes, 2 * this.snapshotBytes)) this.compact();
  }

  collectionNames(): string[] {
    return [...this.collections.keys()];
  }

  /** Makes every change so far durable against a machine failure. */
  sync(): Promise<void> {
    return this.journal.sync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.journal.close();
  }

  get path(): string {
    return this.directory;
  }

  /** A handle the MongoDB repositories accept in place of a driver's `Db`. */
  db(): Db {
    return new EmbeddedDb(this) as unknown as Db;
  }
}

class EmbeddedDb {
  private readonly handles = new Map<string, EmbeddedCollection>();
  constructor(private readonly store: EmbeddedDocumentStore) {}

  collection(name: string): EmbeddedCollection {
    let handle = this.handles.get(name);
    if (!handle) this.handles.set(name, (handle = new EmbeddedCollection(this.store, name)));
    return handle;
  }

  listCollections(filter: Doc = {}) {
    const names = this.store.collectionNames().filter((name) => matches({ name }, filter));
    return {
      toArray: async () => names.map((name) => ({ name, type: 'collection' })),
    };
  }

  async dropCollection(name: string): Promise<boolean> {
    const existed = this.store.collectionNames().includes(name);
    this.store.commit([{ op: 'drop', c: name }]);
    return existed;
  }

  async command(command: Doc): Promise<Doc> {
    if ('ping' in command) return { ok: 1 };
    throw new UnsupportedOperationError(`the command ${Object.keys(command)[0]}`);
  }
}

interface FindOptions {
  projection?: Doc;
  sort?: SortSpec;
  limit?: number;
  skip?: number;
}

class EmbeddedCursor implements AsyncIterable<Doc> {
  private options: FindOptions;
  private results: Doc[] | undefined;

  constructor(
    private readonly run: (options: FindOptions) => Doc[],
    options: FindOptions = {},
  ) {
    this.options = { ...options };
  }

  sort(sort: SortSpec): this {
    this.options.sort = sort;
    return this;
  }
  limit(n: number): this {
    this.options.limit = n;
    return this;
  }
  skip(n: number): this {
    this.options.skip = n;
    return this;
  }
  project(projection: Doc): this {
    this.options.projection = projection;
    return this;
  }
  batchSize(): this {
    return this;
  }

  async toArray(): Promise<Doc[]> {
    return this.run(this.options);
  }

  async next(): Promise<Doc | null> {
    this.results ??= this.run(this.options);
    return this.results.shift() ?? null;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Doc> {
    for (const doc of this.run(this.options)) yield doc;
  }
}

class EmbeddedCollection {
  constructor(
    private readonly store: EmbeddedDocumentStore,
    readonly collectionName: string,
  ) {}

  private get data() {
    return this.store.data(this.collectionName);
  }

  async createIndex(spec: Record<string, 1 | -1>, options: { unique?: boolean; name?: string } = {}): Promise<string> {
    const fields = Object.keys(spec);
    const name = options.name ?? fields.map((f) => `${f}_${spec[f]}`).join('_');
    // Only unique indexes change what the store does; others are MongoDB's business.
    if (!options.unique || this.data.unique.some((i) => i.name === name)) return name;
    const index: UniqueIndex = { name, fields, entries: new Map() };
    for (const [id, doc] of this.data.docs) {
      const key = uniqueKey(index, doc);
      if (index.entries.has(key)) throw new DuplicateKeyError(this.collectionName, name, key);
      index.entries.set(key, id);
    }
    this.data.unique.push(index);
    return name;
  }

  private scan(filter: Doc): Doc[] {
    const docs = this.store.peek(this.collectionName).docs;
    const id = filter._id;
    if (id !== undefined && (id === null || typeof id !== 'object' || id instanceof ObjectId)) {
      const doc = docs.get(keyOf(id));
      return doc && matches(doc, filter) ? [doc] : [];
    }
    const out: Doc[] = [];
    for (const doc of docs.values()) if (matches(doc, filter)) out.push(doc);
    return out;
  }

  private select(filter: Doc, options: FindOptions): Doc[] {
    let docs = sortDocuments(this.scan(filter), options.sort);
    if (options.skip) docs = docs.slice(options.skip);
    if (options.limit) docs = docs.slice(0, options.limit);
    return docs.map((d) => project(clone(d), options.projection));
  }

  find(filter: Doc = {}, options: FindOptions = {}): EmbeddedCursor {
    return new EmbeddedCursor((o) => this.select(filter, o), options);
  }

  async findOne(filter: Doc = {}, options: FindOptions = {}): Promise<Doc | null> {
    return this.select(filter, { ...options, limit: 1 })[0] ?? null;
  }

  async countDocuments(filter: Doc = {}): Promise<number> {
    return this.scan(filter).length;
  }

  async estimatedDocumentCount(): Promise<number> {
    return this.store.peek(this.collectionName).docs.size;
  }

  aggregate(pipeline: Doc[]) {
    return {
      toArray: async () => aggregate(this.scan({}).map(clone), pipeline),
    };
  }

  /** Checks the unique indexes for a document about to be stored in place of `previous`. */
  private checkUnique(doc: Doc, previous: Doc | undefined, pending: Map<string, Doc>): void {
    const id = keyOf(doc._id);
    if (!previous && (this.store.peek(this.collectionName).docs.has(id) || pending.has(id))) throw new DuplicateKeyError(this.collectionName, '_id_', JSON.stringify(doc._id));
    for (const index of this.store.peek(this.collectionName).unique) {
      const key = uniqueKey(index, doc);
      const holder = index.entries.get(key);
      if (holder !== undefined && holder !== id) throw new DuplicateKeyError(this.collectionName, index.name, key);
      for (const [otherId, other] of pending) if (otherId !== id && uniqueKey(index, other) === key) throw new DuplicateKeyError(this.collectionName, index.name, key);
    }
  }

  /** Stores documents: updates the unique indexes, then journals and applies the changes. */
  private write(docs: { doc: Doc; previous: Doc | undefined }[]): void {
    for (const { doc, previous } of docs) {
      const id = keyOf(doc._id);
      for (const index of this.data.unique) {
        if (previous) index.entries.delete(uniqueKey(index, previous));
        index.entries.set(uniqueKey(index, doc), id);
      }
    }
    this.store.commit(docs.map(({ doc }) => ({ op: 'put', c: this.collectionName, d: doc })));
  }

  private prepareInsert(input: Doc): Doc {
    const doc = clone(input);
    if (doc._id === undefined) doc._id = new ObjectId();
    return { _id: doc._id, ...doc };
  }

  async insertOne(input: Doc): Promise<{ acknowledged: true; insertedId: unknown }> {
    const doc = this.prepareInsert(input);
    this.checkUnique(doc, undefined, new Map());
    this.write([{ doc, previous: undefined }]);
    return { acknowledged: true, insertedId: doc._id };
  }

  async insertMany(inputs: Doc[], options: { ordered?: boolean } = {}): Promise<{ acknowledged: true; insertedCount: number }> {
    const ordered = options.ordered ?? true;
    const accepted = new Map<string, Doc>();
    const writeErrors: { code: number; index: number; errmsg: string }[] = [];
    for (const [index, input] of inputs.entries()) {
      const doc = this.prepareInsert(input);
      try {
        this.checkUnique(doc, undefined, accepted);
        accepted.set(keyOf(doc._id), doc);
      } catch (error) {
        writeErrors.push({
          code: DUPLICATE_KEY,
          index,
          errmsg: (error as Error).message,
        });
        if (ordered) break;
      }
    }
    this.write([...accepted.values()].map((doc) => ({ doc, previous: undefined })));
    if (writeErrors.length > 0) throw new BulkWriteError(writeErrors, accepted.size);
    return { acknowledged: true, insertedCount: accepted.size };
  }

  /** The one document an update or replacement works on, or what an upsert inserts. */
  private modify(filter: Doc, change: (doc: Doc, inserting: boolean) => Doc, upsert: boolean): { before: Doc | undefined; after: Doc | undefined; upsertedId?: unknown } {
    const [current] = this.scan(filter);
    if (!current && !upsert) return { before: undefined, after: undefined };
    const inserting = !current;
    const after = change(current ? clone(current) : seedFromFilter(filter), inserting);
    if (after._id === undefined) after._id = current?._id ?? new ObjectId();
    // An update that changes nothing writes nothing, as in MongoDB.
    if (current && keyOf(current) === keyOf(after)) return { before: current, after: current };
    this.checkUnique(after, current, new Map());
    this.write([{ doc: after, previous: current }]);
    return {
      before: current,
      after,
      ...(inserting ? { upsertedId: after._id } : {}),
    };
  }

  private updating(update: Doc) {
    return (doc: Doc, inserting: boolean) => {
      applyUpdate(doc, update, inserting);
      return doc;
    };
  }

  async updateOne(filter: Doc, update: Doc, options: { upsert?: boolean } = {}) {
    const { before, after, upsertedId } = this.modify(filter, this.updating(update), options.upsert ?? false);
    return {
      acknowledged: true,
      matchedCount: before ? 1 : 0,
      modifiedCount: before && after && keyOf(before) !== keyOf(after) ? 1 : 0,
      upsertedCount: upsertedId === undefined ? 0 : 1,
      upsertedId: upsertedId ?? null,
    };
  }

  async updateMany(filter: Doc, update: Doc) {
    const targets = this.scan(filter);
    const changed = targets.map((previous) => {
      const doc = clone(previous);
      applyUpdate(doc, update, false);
      return { doc, previous };
    });
    for (const { doc, previous } of changed) this.checkUnique(doc, previous, new Map());
    this.write(changed);
    return {
      acknowledged: true,
      matchedCount: targets.length,
      modifiedCount: changed.filter(({ doc, previous }) => keyOf(doc) !== keyOf(previous)).length,
      upsertedCount: 0,
      upsertedId: null,
    };
  }

  async replaceOne(filter: Doc, replacement: Doc, options: { upsert?: boolean } = {}) {
    if (Object.keys(replacement).some((k) => k.startsWith('$'))) throw new UnsupportedOperationError('update operators in a replacement');
    const { before, after, upsertedId } = this.modify(filter, (doc) => ({ ...clone(replacement), _id: replacement._id ?? doc._id }), options.upsert ?? false);
    return {
      acknowledged: true,
      matchedCount: before ? 1 : 0,
      modifiedCount: before && after && keyOf(before) !== keyOf(after) ? 1 : 0,
      upsertedCount: upsertedId === undefined ? 0 : 1,
      upsertedId: upsertedId ?? null,
    };
  }

  async findOneAndUpdate(
    filter: Doc,
    update: Doc,
    options: {
      upsert?: boolean;
      returnDocument?: 'before' | 'after';
      projection?: Doc;
    } = {},
  ): Promise<Doc | null> {
    const { before, after } = this.modify(filter, this.updating(update), options.upsert ?? false);
    const result = options.returnDocument === 'after' ? after : before;
    return result ? project(clone(result), options.projection) : null;
  }

  private remove(docs: Doc[]): number {
    if (docs.length === 0) return 0;
    for (const doc of docs) for (const index of this.data.unique) index.entries.delete(uniqueKey(index, doc));
    this.store.commit(docs.map((d) => ({ op: 'del', c: this.collectionName, id: d._id })));
    return docs.length;
  }

  async deleteOne(filter: Doc = {}) {
    return {
      acknowledged: true,
      deletedCount: this.remove(this.scan(filter).slice(0, 1)),
    };
  }

  async deleteMany(filter: Doc = {}) {
    return { acknowledged: true, deletedCount: this.remove(this.scan(filter)) };
  }

  async drop(): Promise<boolean> {
    this.store.commit([{ op: 'drop', c: this.collectionName }]);
    return true;
  }
}

function uniqueKey(index: UniqueIndex, doc: Doc): string {
  return keyOf(index.fields.map((f) => getPath(doc, f) ?? null));
}
