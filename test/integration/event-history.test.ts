import { randomUUID } from 'node:crypto';
import { Binary } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoEventHistory, type HistoryEvent } from '@badgestream/platform';
import { STORES, openStore, type OpenedStore } from '../support/stores.js';

describe.each(STORES)('%s', (kind) => {
  let store: OpenedStore;
  let history: MongoEventHistory;
  // A partition number no consumer uses, so the test reads only what it wrote.
  const partition = 900_000 + Math.floor(Math.random() * 90_000);

  beforeAll(async () => {
    store = await openStore(kind);
    history = new MongoEventHistory(store.db);
    await history.init();
  });

  afterAll(async () => {
    if (!store) return;
    await store.db.collection('event_history_index').deleteMany({ partition });
    for (const { name } of await store.db.listCollections({}, { nameOnly: true }).toArray()) if (name.startsWith(`event_history_p${partition}_`)) await store.db.collection(name).drop();
    await store.close();
  });

  function event(tenant: string, learner: string, offset: number, id = `urn:uuid:${randomUUID()}`): HistoryEvent {
    // A Caliper extension key with dots, as LTI claims have: kept as text, never as a document key.
    return { tenant, learner, offset: String(offset), event: { id, type: 'Event', extensions: { 'https://purl.imsglobal.org/spec/lti/claim/context': { id: 'c1' } } } };
  }

  async function replayed(tenants: string[], from: number, before: number): Promise<string[]> {
    const out: string[] = [];
    for await (const e of history.replay(partition, tenants, BigInt(from), BigInt(before))) out.push(`${e.tenant}@${e.offset}`);
    return out;
  }

  describe('the event history', () => {
    it('replays each offset once, in order, for the tenants asked, across overlapping chunks and segments', async () => {
      const [a, b] = [`t-${randomUUID()}`, `t-${randomUUID()}`];
      const [second, third] = [event(a, 'ada', 2), event(a, 'cy', 3)];
      await history.append(partition, [event(a, 'ada', 0), event(b, 'bob', 1), second]);
      // A slice cut differently after a crash (the same records): overlaps the first chunk.
      await history.append(partition, [second, third]);
      // The same slice stored twice is one chunk.
      await history.append(partition, [second, third]);
      // In the next segment.
      await history.append(partition, [event(b, 'bob', 10_000), event(a, 'ada', 10_001)]);

      expect(await replayed([a], 0, 1 << 30)).toEqual([`${a}@0`, `${a}@2`, `${a}@3`, `${a}@10001`]);
      expect(await replayed([a, b], 1, 10_001)).toEqual([`${b}@1`, `${a}@2`, `${a}@3`, `${b}@10000`]);
      expect(await replayed([`t-${randomUUID()}`], 0, 1 << 30)).toEqual([]);

      const ofA: HistoryEvent[] = [];
      for await (const e of history.eventsOf(a)) ofA.push(e);
      expect(ofA.map((e) => e.offset).sort()).toEqual(['0', '10001', '2', '3']);
      expect(ofA[0]!.event.extensions).toEqual({ 'https://purl.imsglobal.org/spec/lti/claim/context': { id: 'c1' } });
    });

    it('skips an index entry whose chunk is missing, and a chunk whose entry is missing, as a crash between the two writes leaves them', async () => {
      const tenant = `t-${randomUUID()}`;
      await history.append(partition, [event(tenant, 'ada', 20_000), event(tenant, 'ada', 20_001)]);
      await history.append(partition, [event(tenant, 'ada', 20_002)]);
      await store.db.collection(`event_history_p${partition}_s2`).deleteOne({ _id: `${partition}@20002-20002` as never });
      await history.append(partition, [event(tenant, 'ada', 20_003)]);
      await store.db.collection('event_history_index').deleteOne({ _id: `${partition}@20003-20003` as never });
      expect(await replayed([tenant], 20_000, 30_000)).toEqual([`${tenant}@20000`, `${tenant}@20001`]);

      // The slices, never committed, are stored again: whole once more.
      await history.append(partition, [event(tenant, 'ada', 20_002)]);
      await history.append(partition, [event(tenant, 'ada', 20_003)]);
      expect(await replayed([tenant], 20_000, 30_000)).toEqual([`${tenant}@20000`, `${tenant}@20001`, `${tenant}@20002`, `${tenant}@20003`]);
    });

    it('stores a chunk as one deflated value, and still reads chunks stored with their events as fields', async () => {
      const tenant = `t-${randomUUID()}`;
      const stored = event(tenant, 'ada', 30_000);
      await history.append(partition, [stored]);
      const chunk = await store.db.collection(`event_history_p${partition}_s3`).findOne({ _id: `${partition}@30000-30000` as never });
      expect(Object.keys(chunk!)).not.toContain('events');
      expect(chunk!.packed).toBeInstanceOf(Binary);

      // As chunks were written before they were packed: an entry and a chunk with events as JSON text.
      const old = event(tenant, 'cy', 30_001);
      const storedAt = new Date();
      await store.db.collection(`event_history_p${partition}_s3`).insertOne({
        _id: `${partition}@30001-30001` as never,
        partition,
        firstOffset: '30001',
        lastOffset: '30001',
        tenants: [tenant],
        events: [{ tenant, learner: 'cy', offset: '30001', json: JSON.stringify(old.event) }],
        storedAt,
      });
      await store.db.collection('event_history_index').insertOne({ _id: `${partition}@30001-30001` as never, partition, first: 30_001, last: 30_001, tenants: [tenant], events: 1, storedAt });

      const all: HistoryEvent[] = [];
      for await (const e of history.replay(partition, [tenant], 30_000n, 40_000n)) all.push(e);
      expect(all).toEqual([stored, old]);
    });

    it('tells an observer every chunk it will go through, then each one gone through (a missing one too), as storedEventsOf counts them', async () => {
      const [tenant, other] = [`t-${randomUUID()}`, `t-${randomUUID()}`];
      await history.append(partition, [event(tenant, 'ada', 40_000), event(other, 'bob', 40_001), event(tenant, 'cy', 40_002)]);
      await history.append(partition, [event(other, 'bob', 40_003)]);
      await history.append(partition, [event(tenant, 'ada', 40_004), event(tenant, 'ada', 40_005)]);
      // A slice cut differently (overlapping the first), and an entry whose chunk is not written yet.
      await history.append(partition, [event(tenant, 'cy', 40_002), event(other, 'bob', 40_003)]);
      await history.append(partition, [event(tenant, 'ada', 40_006)]);
      await store.db.collection(`event_history_p${partition}_s4`).deleteOne({ _id: `${partition}@40006-40006` as never });

      const planned: number[] = [];
      const passed: number[] = [];
      const yielded: string[] = [];
      const observer = { planned: (chunks: readonly { events: number }[]) => planned.push(...chunks.map((c) => c.events)), passed: (chunk: { events: number }) => passed.push(chunk.events) };
      for await (const e of history.replay(partition, [tenant], 40_000n, 50_000n, observer)) {
        yielded.push(`${e.offset} after ${passed.length}`);
      }
      expect(planned.sort()).toEqual([1, 2, 2, 3]);
      expect(passed.sort()).toEqual([1, 2, 2, 3]);
      // The missing chunk is reported when its segment is read; each other chunk once its events were
      // taken (the overlapping one gives none).
      expect(yielded).toEqual(['40000 after 1', '40002 after 1', '40004 after 3', '40005 after 3']);
      expect((await history.storedEventsOf(tenant)).get(partition)).toBe(3 + 2 + 2 + 1);
      expect((await history.storedEventsOf(other)).get(partition)).toBe(3 + 1 + 2);
      expect(await history.storedEventsOf(`t-${randomUUID()}`)).toEqual(new Map());
    });
  });
});
