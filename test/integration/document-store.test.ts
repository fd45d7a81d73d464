/**
 * The embedded document store against the MongoDB-wire server: the same documents, queries,
 * updates and aggregations, drawn at random within the subset of ARCHITECTURE.md, must give the
 * same results on both. Then what the embedded store alone promises: durability across a
 * reopen, a torn journal end cut off, and refusal of what is outside the subset.
 */
import { mkdtempSync, rmSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { Db, Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDocumentStore, connectMongo, type MongoConnection } from '@badgestream/platform';
import { requireStack } from '../support/stack.js';
import { uniqueName } from '../support/ingest.js';

let mongo: MongoConnection;
let directory: string;
let embedded: EmbeddedDocumentStore;
const created: string[] = [];

beforeAll(async () => {
  const stack = await requireStack();
  mongo = await connectMongo(stack.mongodbUri);
  directory = mkdtempSync(path.join(tmpdir(), 'badgestream-documents-'));
  embedded = EmbeddedDocumentStore.open(directory);
});

afterAll(async () => {
  for (const name of created) await mongo?.db.dropCollection(name).catch(() => undefined);
  await mongo?.close();
  embedded?.close();
  rmSync(directory, { recursive: true, force: true });
});

const day = (d: number) => new Date(Date.UTC(2026, 0, 1 + d));
const docArb = fc.record(
  {
    tenant: fc.constantFrom('a', 'b', 'c'),
    n: fc.integer({ min: -3, max: 6 }),
    s: fc.constantFrom('x', 'y', 'zz', ''),
    tags: fc.array(fc.constantFrom('red', 'green', 'blue'), { maxLength: 3 }),
    at: fc.integer({ min: 0, max: 5 }).map(day),
    nested: fc.record({ k: fc.integer({ min: 0, max: 3 }) }),
    flag: fc.boolean(),
  },
  { requiredKeys: ['tenant', 'at'] },
);

const filterArb: fc.Arbitrary<Document> = fc.oneof(
  fc.record({ tenant: fc.constantFrom('a', 'b') }),
  fc.record({ n: fc.integer({ min: -3, max: 6 }) }),
  fc.record({ tenant: fc.constantFrom('a', 'c'), n: fc.record({ $gte: fc.integer({ min: -3, max: 6 }) }) }),
  fc.record({ n: fc.record({ $lt: fc.integer({ min: -3, max: 6 }), $gt: fc.integer({ min: -3, max: 2 }) }) }),
  fc.record({ at: fc.record({ $lte: fc.integer({ min: 0, max: 5 }).map(day) }) }),
  fc.record({ tenant: fc.record({ $in: fc.subarray(['a', 'b', 'c'], { minLength: 1 }) }) }),
  fc.record({ tenant: fc.record({ $ne: fc.constantFrom('a', 'b') }) }),
  fc.record({ tags: fc.constantFrom('red', 'green') }),
  fc.record({ tags: fc.record({ $in: fc.subarray(['red', 'blue'], { minLength: 1 }) }) }),
  fc.record({ 'nested.k': fc.integer({ min: 0, max: 3 }) }),
  fc.record({ s: fc.record({ $exists: fc.boolean() }) }),
  fc.record({ $or: fc.tuple(fc.record({ tenant: fc.constant('a') }), fc.record({ flag: fc.constant(true) })) }),
);

const updateArb: fc.Arbitrary<Document> = fc.oneof(
  fc.record({ $set: fc.record({ s: fc.constantFrom('x', 'q'), 'nested.k': fc.integer({ min: 0, max: 9 }) }) }),
  fc.record({ $inc: fc.record({ n: fc.integer({ min: -2, max: 2 }) }) }),
  fc.record({ $min: fc.record({ at: fc.integer({ min: 0, max: 5 }).map(day) }) }),
  fc.record({ $max: fc.record({ n: fc.integer({ min: -3, max: 8 }) }) }),
  fc.record({ $addToSet: fc.record({ tags: fc.constantFrom('red', 'white') }) }),
  // `$each` of nothing is left out: MongoDB makes the missing array empty, FerretDB 1.24 leaves it missing.
  fc.record({ $push: fc.record({ tags: fc.record({ $each: fc.array(fc.constantFrom('red', 'black'), { minLength: 1, maxLength: 2 }) }) }) }),
  fc.record({ $set: fc.record({ flag: fc.boolean() }), $setOnInsert: fc.record({ made: fc.constant(true) }) }),
);

const byId = (docs: Document[]) => [...docs].sort((x, y) => String(x._id).localeCompare(String(y._id)));

async function both<T>(name: string, work: (db: Db) => Promise<T>): Promise<[T, T]> {
  return [await work(mongo.db.collection(name).db), await work(embedded.db())];
}

describe('the embedded store gives what MongoDB gives, within the subset', () => {
  it('finds, sorts, limits, counts and aggregates the same documents', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(docArb, { minLength: 1, maxLength: 25 }), filterArb, fc.boolean(), async (docs, filter, descending) => {
        const name = uniqueName('differential');
        created.push(name);
        const seeded: Document[] = docs.map((d, i) => ({ _id: `d${String(i).padStart(2, '0')}`, ...d }));
        for (const db of [mongo.db, embedded.db()]) await db.collection(name).insertMany(seeded.map((d) => ({ ...d })));
        const [mongoFound, embeddedFound] = await both(name, (db) => db.collection(name).find(filter).toArray());
        expect(byId(embeddedFound), `find ${JSON.stringify(filter)}`).toEqual(byId(mongoFound));
        const sort = { n: descending ? -1 : 1, _id: 1 } as const;
        const [mongoSorted, embeddedSorted] = await both(name, (db) =>
          db
            .collection(name)
            .find(filter, { projection: { _id: 1, n: 1 } })
            .sort(sort)
            .limit(7)
            .toArray(),
        );
        expect(embeddedSorted, `sorted ${JSON.stringify(filter)}`).toEqual(mongoSorted);
        const [mongoCount, embeddedCount] = await both(name, (db) => db.collection(name).countDocuments(filter));
        expect(embeddedCount).toBe(mongoCount);
        // `$sum` of a field is left out: FerretDB 1.24 answers 0 where MongoDB (and the embedded store) sum; Badgestream counts only.
        const pipeline = [{ $match: filter }, { $group: { _id: '$tenant', events: { $sum: 1 } } }, { $sort: { _id: 1 } }];
        const [mongoGroups, embeddedGroups] = await both(name, (db) => db.collection(name).aggregate(pipeline).toArray());
        expect(embeddedGroups, `group ${JSON.stringify(filter)}`).toEqual(mongoGroups);
      }),
      { numRuns: 40 },
    );
  });

  it('updates, upserts and refuses duplicate keys the same way', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(docArb, { minLength: 1, maxLength: 8 }), filterArb, updateArb, fc.boolean(), async (docs, filter, update, upsert) => {
        const name = uniqueName('differential');
        created.push(name);
        const seeded: Document[] = docs.map((d, i) => ({ _id: `d${i}`, ...d }));
        const results = await both(name, async (db) => {
          const c = db.collection(name);
          // On fields every document has: FerretDB 1.24 lets documents missing an indexed field share it, MongoDB does not.
          await c.createIndex({ tenant: 1, at: 1 }, { unique: true, name: 'tenant_at' }).catch(() => undefined);
          const inserted = await c
            .insertMany(
              seeded.map((d) => ({ ...d })),
              { ordered: false },
            )
            .then(
              (r) => ({ inserted: r.insertedCount, errors: [] as number[] }),
              (e: { writeErrors?: { index: number; code: number }[] | { index: number; code: number } }) => {
                const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
                return { inserted: -1, errors: list.map((w) => w.index * 100_000 + w.code).sort() };
              },
            );
          const before = await c.find({}).toArray();
          // A filter on _id only, so that what an upsert inserts is decided by the filter alone.
          const target: Document = { _id: before[0]?._id ?? 'missing' };
          const updated = await c.updateOne(target, update, { upsert }).then(
            (r) => ({ matched: r.matchedCount, upserted: r.upsertedCount }),
            // Refused (a unique index): MongoDB says 11000, FerretDB 1.24 another code; that it is refused is what counts.
            () => ({ matched: -1, upserted: -1 }),
          );
          const many = await c.updateMany(filter, { $set: { seen: true } }).then(
            (r) => r.matchedCount,
            () => -1,
          );
          const upserted = await c.findOneAndUpdate({ _id: 'fresh' } as Document, update, { upsert, returnDocument: 'after' }).then(
            (r) => r,
            () => ({ refused: true }),
          );
          const deleted = (await c.deleteMany({ tenant: 'b' })).deletedCount;
          return { inserted, updated, many, upserted, deleted, after: byId(await c.find({}).toArray()) };
        });
        expect(results[1], `${JSON.stringify(update)} on ${JSON.stringify(filter)}, upsert ${upsert}`).toEqual(results[0]);
      }),
      { numRuns: 30 },
    );
  });
});

describe('the embedded store on its own', () => {
  it('keeps every acknowledged change across a reopen, and cuts off a torn end of its journal', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'badgestream-reopen-'));
    try {
      let store = EmbeddedDocumentStore.open(dir);
      const c = () => store.db().collection<{ _id: string; n: number; at?: Date }>('things');
      await c().insertMany([
        { _id: 'a', n: 1 },
        { _id: 'b', n: 2 },
      ]);
      await c().updateOne({ _id: 'a' }, { $inc: { n: 10 }, $set: { at: day(3) } });
      await c().deleteOne({ _id: 'b' });
      await store.db().collection<{ _id: string }>('gone').insertOne({ _id: 'x' });
      await store.db().dropCollection('gone');
      store.close();

      // Half a record at the end, as a machine failure in the middle of a write leaves it.
      const journal = path.join(dir, 'documents.journal');
      store = EmbeddedDocumentStore.open(dir);
      await c().insertOne({ _id: 'c', n: 3 });
      store.close();
      const size = statSync(journal).size;
      appendFileSync(journal, Buffer.from([0x40, 0, 0, 0, 0x02, 0x6f]));
      expect(statSync(journal).size).toBe(size + 6);

      store = EmbeddedDocumentStore.open(dir);
      expect(await c().find({}).sort({ _id: 1 }).toArray()).toEqual([
        { _id: 'a', n: 11, at: day(3) },
        { _id: 'c', n: 3 },
      ]);
      expect((await store.db().listCollections().toArray()).map((x) => x.name)).toEqual(['things']);
      // Folded into the snapshot at open: the journal starts empty, the torn bytes are gone.
      expect(statSync(journal).size).toBe(0);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('folds its journal into the snapshot while open, so documents rewritten over and over do not grow it without end', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'badgestream-compact-'));
    try {
      let store = EmbeddedDocumentStore.open(dir, { compactAtBytes: 20_000 });
      const c = () => store.db().collection<{ _id: string; n: number; pad: string }>('counters');
      await c().insertOne({ _id: 'other', n: 0, pad: '' });
      let largest = 0;
      for (let i = 1; i <= 2000; i++) {
        await c().updateOne({ _id: 'hot' }, { $set: { pad: 'x'.repeat(100) }, $inc: { n: 1 } }, { upsert: true });
        largest = Math.max(largest, statSync(path.join(dir, 'documents.journal')).size);
      }
      // 2,000 updates of ~150 bytes each would be ~300 kB of journal.
      expect(largest).toBeLessThan(25_000);
      store.close();
      store = EmbeddedDocumentStore.open(dir);
      expect(await c().find({}).sort({ _id: 1 }).toArray()).toEqual([
        { _id: 'hot', n: 2000, pad: 'x'.repeat(100) },
        { _id: 'other', n: 0, pad: '' },
      ]);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is outside the subset by name, and changes nothing', async () => {
    const c = embedded.db().collection<{ _id: string; n: number }>(uniqueName('outside'));
    await c.insertOne({ _id: 'a', n: 1 });
    await expect(c.find({ n: { $regex: 'x' } } as Document).toArray()).rejects.toThrow(/does not support the query operator \$regex .*ARCHITECTURE\.md/);
    await expect(c.updateOne({ _id: 'a' }, { $rename: { n: 'm' } })).rejects.toThrow(/does not support the update operator \$rename/);
    await expect(c.aggregate([{ $lookup: { from: 'x' } }]).toArray()).rejects.toThrow(/does not support the aggregation stage \$lookup/);
    expect(await c.find({}).toArray()).toEqual([{ _id: 'a', n: 1 }]);
  });
});
