import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Effect } from '@badgestream/criteria';
import { MongoOutbox, type DeliveryAttempt } from '@badgestream/platform';
import { STORES, openStore, type OpenedStore } from '../support/stores.js';

describe.each(STORES)('%s', (kind) => {
  let store: OpenedStore;
  let outbox: MongoOutbox;

  beforeAll(async () => {
    store = await openStore(kind);
    outbox = new MongoOutbox(store.db);
    await outbox.init();
  });

  afterAll(async () => {
    await store?.close();
  });

  function award(tenant: string, learner: string): Effect {
    const id = randomUUID();
    return {
      kind: 'award',
      id,
      awardId: id,
      tenant,
      learner,
      badgeClass: 'https://example.edu/badges/outbox',
      criteriaVersion: 1,
      causedBy: `urn:uuid:${randomUUID()}`,
      awardedAt: '2026-11-01T00:00:00.000Z',
      provenance: { events: [] },
    } as unknown as Effect;
  }

  const kafkaDelivered = (): DeliveryAttempt => ({ at: new Date(), target: 'kafka', outcome: 'delivered', ms: 3 });
  const pendingIds = async (tenant: string) => (await outbox.list(tenant, { status: 'pending', limit: 100 })).map((e) => e._id).sort();

  describe('the outbox', () => {
    it('stores the effect as one text field, and still reads entries stored with the effect as fields', async () => {
      const tenant = `t-${randomUUID()}`;
      const [fresh, old] = [award(tenant, 'ada'), award(tenant, 'bob')];
      await outbox.add([fresh]);
      expect(typeof (await store.db.collection('criteria_outbox').findOne({ _id: fresh.id as never }))!.effect).toBe('string');
      expect(typeof (await store.db.collection('criteria_outbox_pending').findOne({ _id: fresh.id as never }))!.effect).toBe('string');

      // As entries were written before: the effect itself, in the ledger and the pending collection.
      const createdAt = new Date(Date.now() + 1000);
      await store.db.collection('criteria_outbox').insertOne({ _id: old.id as never, tenant, learner: 'bob', kind: 'award', effect: old, createdAt, seq: 0 });
      await store.db.collection('criteria_outbox_pending').insertOne({
        _id: old.id as never,
        seq: 0,
        tenant,
        learner: 'bob',
        kind: 'award',
        effect: old,
        status: 'pending',
        published: false,
        attempts: 0,
        webhookAttempts: 0,
        attemptLog: [],
        createdAt,
        nextAttemptAt: createdAt,
      });

      expect(await outbox.effectsOf(tenant)).toEqual([fresh, old]);
      expect((await outbox.get(tenant, old.id))!.effect).toEqual(old);
      expect((await outbox.get(tenant, fresh.id))!.effect).toEqual(fresh);
      expect((await outbox.list(tenant, { limit: 10 })).map((e) => e.effect)).toEqual([old, fresh]);
      const published = await outbox.markPublished((await outbox.get(tenant, old.id))!, { issuing: 'webhook', attempt: kafkaDelivered() });
      expect(published!.effect).toEqual(old);
    });

    it('stores an effect once: a replay of its batch returns nothing new and queues nothing twice', async () => {
      const tenant = `t-${randomUUID()}`;
      const effects = [award(tenant, 'ada'), award(tenant, 'bob')];
      const stored = await outbox.add(effects);
      expect(stored.map((e) => e._id)).toEqual(effects.map((e) => e.id));
      expect(await outbox.add(effects)).toEqual([]);
      expect(await pendingIds(tenant)).toEqual(effects.map((e) => e.id).sort());
      expect((await outbox.effectsOf(tenant)).map((e) => e.id)).toEqual(effects.map((e) => e.id));
    });

    it('does not deliver again an effect delivered before when its batch is replayed', async () => {
      const tenant = `t-${randomUUID()}`;
      const effects = [award(tenant, 'ada')];
      const [entry] = await outbox.add(effects);
      await outbox.markPublishedDone([{ entry: entry!, issuing: 'none', attempt: kafkaDelivered() }]);
      expect(await pendingIds(tenant)).toEqual([]);

      expect(await outbox.add(effects)).toEqual([]);
      expect(await pendingIds(tenant)).toEqual([]);
      expect(await outbox.dueToPublish(1000)).not.toContainEqual(expect.objectContaining({ tenant }));
      const done = await outbox.get(tenant, entry!._id);
      expect(done).toMatchObject({ status: 'done', published: true, webhook: 'skipped', attempts: 1 });
      expect(done!.attemptLog).toHaveLength(1);
      expect(await outbox.effectsOf(tenant)).toHaveLength(1);
    });

    it('delivers an effect whose ledger write was lost to a crash, when its batch is replayed', async () => {
      const tenant = `t-${randomUUID()}`;
      const effects = [award(tenant, 'ada')];
      await outbox.add(effects);
      // The state a crash leaves between queueing the delivery and writing the ledger.
      await store.db.collection('criteria_outbox').deleteOne({ _id: effects[0]!.id as never });

      const again = await outbox.add(effects);
      expect(again.map((e) => e._id)).toEqual([effects[0]!.id]);
      expect(await pendingIds(tenant)).toEqual([effects[0]!.id]);
      expect(await outbox.effectsOf(tenant)).toHaveLength(1);
    });

    it('queues the delivery of an effect a crash kept from being queued, when its batch is replayed', async () => {
      const tenant = `t-${randomUUID()}`;
      const effects = [award(tenant, 'ada')];
      await outbox.add(effects);
      // The state a crash leaves between writing the ledger and queueing the delivery.
      await store.db.collection('criteria_outbox_pending').deleteOne({ _id: effects[0]!.id as never });

      expect(await outbox.add(effects)).toEqual([]);
      expect(await pendingIds(tenant)).toEqual([effects[0]!.id]);
      expect((await outbox.dueToPublish(10_000)).map((e) => e._id)).toContain(effects[0]!.id);
    });

    it('keeps a webhook entry pending until the issuer answers, then done; a failed one is kept and can be retried', async () => {
      const tenant = `t-${randomUUID()}`;
      const [first, second] = await outbox.add([award(tenant, 'ada'), award(tenant, 'bob')]);
      const published = await outbox.markPublished(first!, { issuing: 'webhook', attempt: kafkaDelivered() });
      expect(published).toMatchObject({ published: true, webhook: 'pending', status: 'pending' });
      expect(await outbox.markPublished(first!, { issuing: 'webhook', attempt: kafkaDelivered() })).toBeUndefined();

      const claimed = await outbox.claim(published!, new Date(Date.now() + 60_000));
      expect(claimed).toBeDefined();
      expect(await outbox.claim(published!, new Date(Date.now() + 60_000))).toBeUndefined();
      await outbox.recordWebhookAttempt(claimed!, { at: new Date(), target: 'webhook', outcome: 'delivered', status: 200, ms: 5 }, { webhook: 'done' });
      expect(await outbox.get(tenant, first!._id)).toMatchObject({ status: 'done', webhook: 'done', attempts: 2, webhookAttempts: 1 });

      const other = (await outbox.markPublished(second!, { issuing: 'webhook', attempt: kafkaDelivered() }))!;
      await outbox.recordWebhookAttempt(other, { at: new Date(), target: 'webhook', outcome: 'failed', status: 400, error: 'refused', ms: 5 }, { webhook: 'failed' });
      expect(await outbox.countFailed()).toBeGreaterThanOrEqual(1);
      expect((await outbox.list(tenant, { status: 'failed', limit: 10 })).map((e) => e._id)).toEqual([second!._id]);
      const retried = await outbox.retry(tenant, second!._id);
      expect(retried).toMatchObject({ retried: true, entry: { status: 'pending', webhook: 'pending', webhookAttempts: 0 } });
      expect(await outbox.retry(tenant, first!._id)).toMatchObject({ retried: false, entry: { status: 'done' } });
      expect(await outbox.retry(`t-${randomUUID()}`, first!._id)).toBeUndefined();

      // Listings: newest first, of both collections; a learner's entries oldest first.
      expect((await outbox.list(tenant, { limit: 10 })).map((e) => e._id)).toEqual([second!._id, first!._id]);
      expect((await outbox.list(tenant, { status: 'done', limit: 10 })).map((e) => e._id)).toEqual([first!._id]);
      expect((await outbox.forLearner(tenant, 'ada')).map((e) => e.status)).toEqual(['done']);
      expect(await outbox.get(`t-${randomUUID()}`, first!._id)).toBeUndefined();
    });
  });
});
