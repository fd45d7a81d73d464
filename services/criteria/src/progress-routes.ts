import { Router, type NextFunction, type Request, type Response } from 'express';
import { progressReport, type Criteria } from '@badgestream/criteria';
import { bearerToken, problem, sendProblem, type CachedAuthenticator, type MongoLearnerProgress, type MongoOutbox, type Principal } from '@badgestream/platform';

export interface ProgressRoutesDeps {
  progress: MongoLearnerProgress;
  outbox: MongoOutbox;
  authenticator: CachedAuthenticator;
  /** The criteria document of a badge class version, to explain progress against it. */
  criteriaOf: (tenant: string, badgeClass: string, version: number) => Promise<Criteria | undefined>;
}

type AuthedRequest = Request & { principal?: Principal };

/**
 * GET /progress?learner=IRI — for a learner, each badge in progress: requirements met and
 * remaining, the award held (with provenance) and the awards and revocations emitted.
 * Reader or admin keys; the tenant comes from the key only.
 */
export function createProgressRouter(deps: ProgressRoutesDeps): Router {
  const router = Router();
  router.get('/progress', requireScope(deps, ['reader', 'admin']), async (req: AuthedRequest, res: Response) => {
    const learner = req.query.learner;
    if (typeof learner !== 'string' || learner.length === 0) {
      sendProblem(res, problem(400, 'invalid-query', 'The learner is missing', { detail: 'pass the learner as ?learner=<IRI or type:identity>, as it appears in the partition key of its events' }));
      return;
    }
    const tenant = req.principal!.tenant;
    const [all, effects] = await Promise.all([deps.progress.forLearner(tenant, learner), deps.outbox.forLearner(tenant, learner)]);
    const badges = [];
    for (const p of all) {
      const criteria = await deps.criteriaOf(tenant, p.badgeClass, p.criteriaVersion);
      badges.push({
        ...(criteria ? progressReport(criteria, p) : { badgeClass: p.badgeClass, criteriaVersion: p.criteriaVersion, learner, met: p.met, award: p.award ? { awardId: p.award.awardId, awardedAt: p.award.awardedAt } : null, requirements: [], notes: ['The criteria of this version are no longer stored.'] }),
        provenance: p.award?.provenance ?? null,
        awards: p.awards,
      });
    }
    res.json({
      learner,
      badges,
      effects: effects.map((e) => ({ id: e._id, kind: e.kind, status: e.status, badgeClass: e.effect.badgeClass, criteriaVersion: e.effect.criteriaVersion, awardId: e.effect.awardId, effect: e.effect })),
    });
  });
  return router;
}

export function requireScope(deps: { authenticator: CachedAuthenticator }, scopes: Principal['scope'][]) {
  return async (req: AuthedRequest, res: Response, next: NextFunction) => {
    const token = bearerToken(req.headers.authorization);
    const principal = token ? await deps.authenticator.authenticate(token) : undefined;
    if (!principal) {
      sendProblem(res, problem(401, 'unauthenticated', token ? 'The bearer token is unknown or revoked' : 'A bearer token is required'), { 'WWW-Authenticate': 'Bearer realm="badgestream"' });
      return;
    }
    if (!scopes.includes(principal.scope)) {
      sendProblem(res, problem(403, 'forbidden-scope', `This needs a key with scope ${scopes.join(' or ')}; this key has scope ${principal.scope}`));
      return;
    }
    req.principal = principal;
    next();
  };
}
