import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LearnerProgress } from '@badgestream/criteria';
import { MongoLearnerProgress, ProgressCheckpointConflict, progressKey } from '@badgestream/platform';
import { STORES, openStore, type OpenedStore } from '../support/stores.js';
import { uniqueName } from '../support/ingest.js';

const TOPIC = 'caliper.events';
const PARTITION = 3;
const tenant = 't-progress';
const badgeClass = 'https://issuer.example/badges/progress-store';

describe.each(STORES)('%s', (kind) => {
  let opened: OpenedStore;
  let group: string;
  let store: MongoLearnerProgress;
  /** The names of the group's collections of snapshots of PARTITION, as documented on MongoLearnerProgress. */
  let base: string;

  beforeAll(async () => {
    opened = await openStore(kind);
    group = uniqueName('progress-store');
    store = new MongoLearnerProgress(opened.db, group);
    await store.init();
    base = `learner_progress_${createHash('sha1').update(group).digest('hex').slice(0, 12)}_p${PARTITION}`;
  });

  afterAll(async () => {
    if (!opened) return;
    for (const name of await collections()) await opened.db.dropCollection(name);
    await opened.db.collection('criteria_checkpoints').deleteMany({ group });
    await opened.close();
  });

  async function collections(): Promise<string[]> {
    return (await opened.db.listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((name) => name === base || name.startsWith(`${base}_`))
      .sort();
  }

  function progress(learner: string, facts: number): LearnerProgress {
    return {
      tenant,
      learner,
      badgeClass,
      criteriaVersion: 1,
      facts: Array.from({ length: facts }, (_, i) => ({ id: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, requirement: 'quizzes', key: `q${i}`, at: '2026-11-29T10:00:00.000Z' })),
      met: false,
      awards: [],
      award: null,
      history: [],
    } as unknown as LearnerProgress;
  }

  const keyOf = (learner: string) => progressKey(tenant, learner, badgeClass, 1);
  const changes = (entries: [string, number][]) => new Map(entries.map(([learner, facts]) => [keyOf(learner), progress(learner, facts)]));

  describe('MongoLearnerProgress', () => {
    it('rotates snapshots into a new collection, drops the superseded ones, and loads and answers from the current one', async () => {
      // The first flush starts a collection of its own.
      await store.flush(
        TOPIC,
        PARTITION,
        undefined,
        { gen: 1, since: 1, offset: '10', criteria: ['c'] },
        changes([
          ['ada', 1],
          ['bob', 1],
        ]),
      );
      await store.flush(TOPIC, PARTITION, { gen: 1, since: 1 }, { gen: 2, since: 1, offset: '20', criteria: ['c'] }, changes([['ada', 2]]));
      expect(await collections()).toEqual([`${base}_g1`]);
      expect(await store.checkpoint(TOPIC, PARTITION)).toMatchObject({ gen: 2, since: 1, offset: '20' });
      let loaded = await store.loadPartition(PARTITION, await store.checkpoint(TOPIC, PARTITION));
      expect(loaded.snapshots).toBe(3);
      expect(loaded.progress.get(keyOf('ada'))!.facts).toHaveLength(2);

      // A rotation: every key, into a new collection; the one it replaces is kept for readers a moment behind.
      await store.flush(
        TOPIC,
        PARTITION,
        { gen: 2, since: 1 },
        { gen: 3, since: 3, offset: '30', criteria: ['c'] },
        changes([
          ['ada', 3],
          ['bob', 1],
        ]),
      );
      expect(await collections()).toEqual([`${base}_g1`, `${base}_g3`]);
      await store.flush(TOPIC, PARTITION, { gen: 3, since: 3 }, { gen: 4, since: 3, offset: '40', criteria: ['c'] }, changes([['bob', 2]]));
      // The next rotation drops it.
      await store.flush(
        TOPIC,
        PARTITION,
        { gen: 4, since: 3 },
        { gen: 5, since: 5, offset: '50', criteria: ['c'] },
        changes([
          ['ada', 3],
          ['bob', 2],
          ['cy', 1],
        ]),
      );
      expect(await collections()).toEqual([`${base}_g3`, `${base}_g5`]);

      loaded = await store.loadPartition(PARTITION, await store.checkpoint(TOPIC, PARTITION));
      expect(loaded.snapshots).toBe(3);
      expect([...loaded.progress.keys()].sort()).toEqual([keyOf('ada'), keyOf('bob'), keyOf('cy')]);
      expect(loaded.progress.get(keyOf('bob'))!.facts).toHaveLength(2);
      expect((await store.forLearner(tenant, 'ada'))[0]!.facts).toHaveLength(3);
      expect((await store.forBadgeClass(tenant, badgeClass)).map((p) => p.learner).sort()).toEqual(['ada', 'bob', 'cy']);
    });

    it('refuses a flush from an instance whose checkpoint is out of date, and a take-over counts the generations of its unfinished rotation', async () => {
      const current = (await store.checkpoint(TOPIC, PARTITION))!;
      // An instance that loaded at generation 4 rotates to 6: its snapshots land, its checkpoint does not.
      await expect(store.flush(TOPIC, PARTITION, { gen: 4, since: 3 }, { gen: 6, since: 6, offset: '60', criteria: ['c'] }, changes([['ada', 9]]))).rejects.toBeInstanceOf(ProgressCheckpointConflict);
      expect(await store.checkpoint(TOPIC, PARTITION)).toMatchObject({ gen: current.gen, since: current.since });
      const loaded = await store.loadPartition(PARTITION, current);
      expect(loaded.highestGen).toBe(6);
      expect(loaded.progress.get(keyOf('ada'))!.facts).toHaveLength(3);
    });

    it('still loads the snapshots of a checkpoint written before rotation, from the collection without a suffix', async () => {
      const legacyGroup = uniqueName('progress-legacy');
      const legacy = new MongoLearnerProgress(opened.db, legacyGroup);
      const name = `learner_progress_${createHash('sha1').update(legacyGroup).digest('hex').slice(0, 12)}_p${PARTITION}`;
      try {
        const key = keyOf('dee');
        await opened.db
          .collection(name)
          .insertOne({
            _id: `${key}#7` as never,
            group: legacyGroup,
            key,
            partition: PARTITION,
            gen: 7,
            tenant,
            learner: 'dee',
            badgeClass,
            criteriaVersion: 1,
            awardActive: false,
            progress: progress('dee', 2),
            updatedAt: new Date(),
          });
        await opened.db
          .collection('criteria_checkpoints')
          .insertOne({ _id: `${legacyGroup}|${TOPIC}|${PARTITION}` as never, group: legacyGroup, topic: TOPIC, partition: PARTITION, gen: 7, offset: '70', criteria: [], at: new Date() });
        const checkpoint = await legacy.checkpoint(TOPIC, PARTITION);
        expect(checkpoint?.since).toBeUndefined();
        const loaded = await legacy.loadPartition(PARTITION, checkpoint);
        expect(loaded.progress.get(key)!.facts).toHaveLength(2);
        expect((await legacy.forLearner(tenant, 'dee'))[0]!.learner).toBe('dee');
      } finally {
        await opened.db.dropCollection(name).catch(() => undefined);
        await opened.db.collection('criteria_checkpoints').deleteMany({ group: legacyGroup });
      }
    });

    it('forgets a retired group: its snapshots and checkpoints are gone, other groups keep theirs', async () => {
      const retired = new MongoLearnerProgress(opened.db, uniqueName('progress-retired'));
      await retired.flush(TOPIC, 0, undefined, { gen: 1, since: 1, offset: '1', criteria: [] }, changes([['eve', 1]]));
      await retired.flush(TOPIC, 1, undefined, { gen: 1, since: 1, offset: '1', criteria: [] }, changes([['fay', 1]]));
      expect((await retired.forBadgeClass(tenant, badgeClass)).map((p) => p.learner).sort()).toEqual(['eve', 'fay']);
      await retired.forget();
      expect(await retired.checkpoint(TOPIC, 0)).toBeUndefined();
      expect(await retired.loadPartition(0, undefined)).toMatchObject({ snapshots: 0, highestGen: 0 });
      expect(await retired.forBadgeClass(tenant, badgeClass)).toEqual([]);
      expect((await store.forBadgeClass(tenant, badgeClass)).length).toBeGreaterThan(0);
    });
  });
});
