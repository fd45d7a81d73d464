import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMongo, createLogger, createMetricsRegistry, type ConsumedRecord, type MongoConnection } from '@badgestream/platform';
import { LostPartitionError, MongoReportingStore, ReportingView, RollupConsumer, ViewSync, encodeFacts, type Fact } from '@badgestream/reporting';
import { requireStack, uniqueName } from '../support/stack.js';
import { databaseUri } from '../support/reporting.js';

/**
 * Two instances writing the same partition (one lost it to the other, or crashed half-way through
 * a slice), on the real MongoDB: what counts is exactly the slices of the owner of their offsets.
 */

let mongo: MongoConnection;
const fact = (eventId: string): Fact => ({ tenant: 't', eventId, action: 'Issued', time: Date.parse('2025-03-01T10:00:00Z'), badgeClass: 'https://b/1', issuer: '', recipient: 'https://u/1', actor: 'https://app', edApp: '', badge: true, receivedAt: 1 });

beforeAll(async () => {
  const stack = await requireStack();
  mongo = await connectMongo(databaseUri(stack.mongodbUri, uniqueName('reporting-owners')));
});

afterAll(async () => {
  await mongo?.close();
});

describe('slices of a partition taken over', () => {
  it('count only when complete and written by the owner of their offsets', async () => {
    const group = uniqueName('metrics');
    const a = new MongoReportingStore(mongo.db, group);
    const b = new MongoReportingStore(mongo.db, group);
    await a.init();
    const takenByA = await a.takeOver(0, 3_600_000);
    expect(takenByA.checkpoint).toBe(-1);
    await a.writeSlice({ _id: 'a-0', partition: 0, fromOffset: 0, toOffset: 9, events: 1, owner: takenByA.owner }, encodeFacts([fact('urn:uuid:1')]), ['urn:uuid:1'], 1);

    // B takes the partition over from offset 10; A, not knowing, writes offsets 10-19 too.
    const takenByB = await b.takeOver(0, 3_600_000);
    expect(takenByB.checkpoint).toBe(9);
    expect([...takenByB.seen.keys()]).toEqual(['urn:uuid:1']);
    await expect(a.writeSlice({ _id: 'a-10', partition: 0, fromOffset: 10, toOffset: 19, events: 1, owner: takenByA.owner }, encodeFacts([fact('urn:uuid:2')]), ['urn:uuid:2'], 1)).rejects.toBeInstanceOf(LostPartitionError);
    await b.writeSlice({ _id: 'b-10', partition: 0, fromOffset: 10, toOffset: 19, events: 1, owner: takenByB.owner }, encodeFacts([fact('urn:uuid:2')]), ['urn:uuid:2'], 1);
    // B crashes after writing the entry and facts of its next slice, before moving the checkpoint.
    await b.writeSlice({ _id: 'b-20', partition: 0, fromOffset: 20, toOffset: 29, events: 1, owner: 'a-crashed-writer' }, encodeFacts([fact('urn:uuid:3')]), ['urn:uuid:3'], 1).catch(() => undefined);

    const view = new ReportingView();
    expect(await new ViewSync(a, view, createLogger('test', 'silent')).loadAll()).toBe(2);
    expect(view.tenant('t')!.events).toBe(2);
    expect(view.hasApplied('a-10') || view.hasApplied('b-20')).toBe(false);

    // The next owner removes the unfinished slice and starts after the checkpoint.
    const next = await a.takeOver(0, 3_600_000);
    expect(next.checkpoint).toBe(19);
    expect(new Set(next.seen.keys())).toEqual(new Set(['urn:uuid:1', 'urn:uuid:2']));
  });
});

describe('copies of an event', () => {
  it('are the same event of the same tenant: a report relayed to an issuer, same id, counts for the issuer too', async () => {
    const store = new MongoReportingStore(mongo.db, uniqueName('metrics'));
    await store.init();
    const counted: Fact[] = [];
    const consumer = new RollupConsumer({ store, logger: createLogger('test', 'silent'), metrics: createMetricsRegistry('test'), duplicateWindowMs: 3_600_000, onSlice: (_, facts) => counted.push(...facts) });
    const verified = { id: 'urn:uuid:5a0c1b6e-4f7d-4c39-9a43-1f3a2c9d8e71', type: 'BadgeEvent', action: 'Verified', actor: 'https://verify.example', object: 'https://issuer.example/assertions/1', eventTime: '2026-11-20T09:00:00.000Z' };
    const record = (offset: number, tenant: string): ConsumedRecord => ({
      topic: 'caliper.events',
      partition: 0,
      offset: String(offset),
      key: `${tenant}|https://verify.example`,
      headers: { 'badgestream-tenant': tenant, 'badgestream-event-id': verified.id, 'badgestream-received-at': '2026-11-20T09:00:01.000Z' },
      value: verified,
      raw: null,
    });
    // The consumer tenant's event, the issuer's copy relayed to it, then the issuer's copy again.
    await consumer.handleBatch([record(0, 'consumer'), record(1, 'issuer')]);
    await consumer.handleBatch([record(2, 'issuer')]);
    expect(counted.map((f) => f.tenant)).toEqual(['consumer', 'issuer']);
  });
});
