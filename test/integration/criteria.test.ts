import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoCriteriaDefinitions } from '@badgestream/platform';
import { loadCriteriaConfig, startCriteria, type RunningCriteria } from '@badgestream/criteria-service';
import { gradeEvent } from '../support/events.js';
import { envelopeOf, uniqueName, type DecodedRecord } from '../support/ingest.js';
import { retireCriteriaOf } from '../support/criteria-stream.js';
import { MODES, startDeployment, startIngestOf, type Deployment, type IngestOf } from '../support/deployment.js';

const quiz = (n: number) => `https://example.edu/terms/2026/courses/7/sections/1/quizzes/${n}`;

function graded(learner: string, quizNumber: number, score: number, eventTime: string) {
  return gradeEvent(learner, {
    assignable: quiz(quizNumber),
    scoreGiven: score,
    maxScore: 10,
    eventTime,
  });
}

describe.each(MODES)('the criteria service (%s)', (mode) => {
  let d: Deployment;
  let h: IngestOf;
  let criteria: RunningCriteria;
  const badgeClass = `https://issuer.example/badges/${uniqueName('python-basics')}`;

  beforeAll(async () => {
    d = await startDeployment(mode);
    h = await startIngestOf(d);
    const definitions = new MongoCriteriaDefinitions(d.db);
    await definitions.init();
    await definitions.put(h.tenant, {
      badgeClass,
      version: 1,
      name: 'Python Basics',
      requirement: {
        id: 'quizzes',
        description: 'pass any 3 quizzes with 70%',
        match: { type: 'GradeEvent', action: 'Graded' },
        where: [{ scoreRatio: { min: 0.7 } }],
        latestBy: 'object.assignable.id',
        atLeast: 3,
      },
      whenUnmet: 'revoke',
    });
    await definitions.activate(h.tenant, badgeClass, 1);
    // A new group starts at the oldest record; this test cares only about what it posts, so the
    // group starts at the end of the topic instead of replaying what earlier suites wrote.
    const groupId = uniqueName('criteria-test');
    await d.startGroupAt(groupId);
    const config = loadCriteriaConfig(
      d.env({
        CRITERIA_PORT: '0',
        CRITERIA_GROUP_ID: groupId,
        CRITERIA_INSTANCE_ID: uniqueName('criteria'),
      }),
    );
    criteria = await startCriteria(config, undefined, d.backend);
  });

  afterAll(async () => {
    await criteria?.close();
    if (h) await retireCriteriaOf(new MongoCriteriaDefinitions(d.db), [h.tenant]);
    await h?.close();
    await d?.close();
  });

  async function progressOf(learner: string) {
    const r = await fetch(`${criteria.url}/progress?learner=${encodeURIComponent(learner)}`, { headers: { authorization: `Bearer ${h.tokens.reader}` } });
    expect(r.status).toBe(200);
    return (await r.json()) as {
      badges: {
        badgeClass: string;
        criteriaVersion: number;
        met: boolean;
        award: { awardId: string } | null;
        provenance: unknown;
      }[];
      effects: {
        kind: string;
        awardId: string;
        status: string;
        criteriaVersion: number;
      }[];
    };
  }

  async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  describe('awards, revocations, dry runs and activations', () => {
    it('awards once when criteria are met, ignores redelivered events, and revokes after a regrade', async () => {
      const learner = `https://example.edu/users/${uniqueName('ada')}`;
      const from = await d.endOffsets();
      const events = [graded(learner, 1, 8, '2026-10-01T10:00:00.000Z'), graded(learner, 2, 9, '2026-10-08T10:00:00.000Z'), graded(learner, 3, 7, '2026-10-15T10:00:00.000Z')];
      expect((await h.post(envelopeOf(events))).status).toBe(200);
      // The same events again, as a sensor retrying would send them.
      expect((await h.post(envelopeOf(events))).status).toBe(200);

      const awarded = await until(
        () => progressOf(learner),
        (p) => p.badges[0]?.award !== null && p.badges[0]?.award !== undefined,
      );
      expect(awarded.badges).toHaveLength(1);
      expect(awarded.badges[0]).toMatchObject({ badgeClass, met: true });
      expect(JSON.stringify(awarded.badges[0]!.provenance)).toContain(events[2]!.id);
      const awardId = awarded.badges[0]!.award!.awardId;

      const mine = (rs: DecodedRecord[]) => rs.filter((r) => r.headers['badgestream-tenant'] === h.tenant && r.value.type === 'BadgeEvent');
      const demonstrated = mine(await d.readFrom(from, (rs) => mine(rs).length >= 1));
      expect(demonstrated).toHaveLength(1);
      expect(demonstrated[0]!.value).toMatchObject({
        action: 'Demonstrated',
        object: { id: badgeClass, type: 'BadgeClass' },
        actor: { id: learner, type: 'Person' },
      });
      expect(demonstrated[0]!.key).toBe(`${h.tenant}|${learner}`);

      // A regrade of quiz 3 below 70%: only two quizzes pass now, and the policy says revoke.
      expect((await h.post(envelopeOf([graded(learner, 3, 5, '2026-10-20T10:00:00.000Z')]))).status).toBe(200);
      const revoked = await until(
        () => progressOf(learner),
        (p) => p.badges[0]?.award === null,
      );
      expect(revoked.badges[0]!.met).toBe(false);
      expect(revoked.effects.map((e) => e.kind)).toEqual(['award', 'revoke']);
      expect(new Set(revoked.effects.map((e) => e.awardId))).toEqual(new Set([awardId]));
      const both = mine(await d.readFrom(from, (rs) => mine(rs).length >= 2));
      expect(both.map((r) => r.value.action)).toEqual(['Demonstrated', 'Revoked']);
      expect(both[1]!.value).toMatchObject({
        object: { type: 'Assertion', badge: badgeClass, revoked: true },
      });
    });

    it('dry-runs a criteria version over the event history, then activates it: dry run, activation and live processing agree', async () => {
      const ada = `https://example.edu/users/${uniqueName('ada')}`;
      const bob = `https://example.edu/users/${uniqueName('bob')}`;
      const cy = `https://example.edu/users/${uniqueName('cy')}`;
      // Ada passes three quizzes with 70% or more; Bob passes two, and scores 60% on the third.
      const events: Record<string, unknown>[] = [graded(ada, 1, 8, '2026-10-01T10:00:00.000Z'), graded(ada, 2, 7, '2026-10-02T10:00:00.000Z'), graded(ada, 3, 9, '2026-10-03T10:00:00.000Z')];
      // Extension keys as LTI writes them (IRIs with dots) must be kept in the history too.
      events[0] = {
        ...events[0],
        extensions: {
          'https://purl.imsglobal.org/spec/lti/claim/deployment_id': '07940580-b309-415e-a37c-914d387c1150',
          $note: 'kept',
        },
      };
      events.push(graded(bob, 1, 9, '2026-10-01T11:00:00.000Z'), graded(bob, 2, 8, '2026-10-02T11:00:00.000Z'), graded(bob, 3, 6, '2026-10-03T11:00:00.000Z'));
      // Cy completes three quizzes with 70% only with the fourth; with 60% the second counts and the third completes.
      events.push(
        graded(cy, 1, 9, '2026-10-01T12:00:00.000Z'),
        graded(cy, 2, 6, '2026-10-02T12:00:00.000Z'),
        graded(cy, 3, 8, '2026-10-03T12:00:00.000Z'),
        graded(cy, 4, 7, '2026-10-04T12:00:00.000Z'),
      );
      expect((await h.post(envelopeOf(events))).status).toBe(200);
      const adaBefore = await until(
        () => progressOf(ada),
        (p) => Boolean(p.badges[0]?.award),
      );
      const cyBefore = await until(
        () => progressOf(cy),
        (p) => Boolean(p.badges[0]?.award),
      );
      await until(
        () => progressOf(bob),
        (p) => p.badges[0] !== undefined && p.badges[0].met === false,
      );

      type Listed = {
        learner: string;
        awardId?: string;
        held?: { awardId: string; criteriaVersion: number };
      };
      const dryRun = async (body: unknown) => {
        const r = await fetch(`${criteria.url}/admin/criteria/dry-run`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${h.tokens.admin}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        return {
          status: r.status,
          body: (await r.json()) as {
            wouldAward: Listed[];
            wouldRevoke: Listed[];
            wouldReplace: Listed[];
            unchanged: number;
            learners: number;
            detail?: string;
            title?: string;
          },
        };
      };
      const ours = new Set([ada, bob, cy]);
      const learnersIn = (list: Listed[]) => list.map((l) => l.learner).filter((l) => ours.has(l));

      // The active version over the stored history gives what live processing gave.
      const same = await dryRun({ badgeClass, version: 1 });
      expect(same.status).toBe(200);
      expect(learnersIn(same.body.wouldAward)).toEqual([]);
      expect(learnersIn(same.body.wouldRevoke)).toEqual([]);
      expect(learnersIn(same.body.wouldReplace)).toEqual([]);

      // Version 2 lowers the bar to 60%: Bob would be awarded; Cy's award would be replaced by one
      // completed earlier; Ada's award, completed by the same event under both, stays.
      const definitions = new MongoCriteriaDefinitions(d.db);
      const v1 = (await definitions.get(h.tenant, badgeClass, 1))!.criteria;
      await definitions.put(h.tenant, {
        ...v1,
        version: 2,
        requirement: {
          ...v1.requirement,
          where: [{ scoreRatio: { min: 0.6 } }],
        },
      } as typeof v1);
      const lower = await dryRun({ badgeClass, version: 2 });
      expect(lower.status).toBe(200);
      expect(learnersIn(lower.body.wouldAward)).toEqual([bob]);
      expect(lower.body.wouldReplace.filter((r) => ours.has(r.learner)).map((r) => [r.learner, r.held!.awardId, r.held!.criteriaVersion])).toEqual([[cy, cyBefore.badges[0]!.award!.awardId, 1]]);
      expect(learnersIn(lower.body.wouldRevoke)).toEqual([]);
      // Nothing changed: version 2 is still a draft, and Bob still holds nothing.
      expect((await definitions.get(h.tenant, badgeClass, 2))!.status).toBe('draft');
      expect((await progressOf(bob)).badges.every((b) => b.award === null)).toBe(true);

      // Activation evaluates version 2 over the history and does exactly what the dry run listed.
      const activated = await fetch(`${criteria.url}/admin/criteria/activate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.tokens.admin}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ badgeClass, version: 2 }),
      });
      expect(activated.status).toBe(200);
      const held = (p: Awaited<ReturnType<typeof progressOf>>) => p.badges.filter((b) => b.award !== null);
      const bobAfter = await until(
        () => progressOf(bob),
        (p) => held(p).length === 1 && p.effects.length === 1,
      );
      expect(bobAfter.effects.map((e) => [e.kind, e.criteriaVersion, e.awardId])).toEqual([['award', 2, lower.body.wouldAward.find((a) => a.learner === bob)!.awardId]]);
      const cyAfter = await until(
        () => progressOf(cy),
        (p) => held(p)[0]?.criteriaVersion === 2 && p.effects.length === 3,
      );
      const replaced = lower.body.wouldReplace.find((r) => r.learner === cy)!;
      expect(cyAfter.effects.map((e) => [e.kind, e.awardId])).toEqual([
        ['award', replaced.held!.awardId],
        ['revoke', replaced.held!.awardId],
        ['award', replaced.awardId],
      ]);
      expect(held(cyAfter).map((b) => b.award!.awardId)).toEqual([replaced.awardId]);
      const adaAfter = await until(
        () => progressOf(ada),
        (p) => held(p)[0]?.criteriaVersion === 2,
      );
      expect(held(adaAfter).map((b) => b.award!.awardId)).toEqual([adaBefore.badges[0]!.award!.awardId]);
      expect(adaAfter.effects.map((e) => e.kind)).toEqual(['award']);

      // Live processing under version 2 agrees with its dry run: nothing left to change.
      const settled = await dryRun({ badgeClass, version: 2 });
      expect(learnersIn(settled.body.wouldAward)).toEqual([]);
      expect(learnersIn(settled.body.wouldRevoke)).toEqual([]);
      expect(learnersIn(settled.body.wouldReplace)).toEqual([]);

      const missing = await dryRun({ badgeClass, version: 99 });
      expect(missing.status).toBe(404);
      expect(missing.body.detail ?? missing.body.title).toContain('version 99');
      expect((await dryRun({ badgeClass })).status).toBe(400);
    });

    it('refuses progress to a key without reader or admin scope, and needs the learner', async () => {
      expect(
        (
          await fetch(`${criteria.url}/progress?learner=x`, {
            headers: { authorization: `Bearer ${h.tokens.sensor}` },
          })
        ).status,
      ).toBe(403);
      expect((await fetch(`${criteria.url}/progress?learner=x`)).status).toBe(401);
      expect(
        (
          await fetch(`${criteria.url}/progress`, {
            headers: { authorization: `Bearer ${h.tokens.reader}` },
          })
        ).status,
      ).toBe(400);
    });
  });
});
