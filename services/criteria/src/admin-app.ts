import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
  ConflictError,
  InvalidCriteriaError,
  NotFoundError,
  UnavailableError,
  jsonBody,
  problem,
  requireScope,
  sendProblem,
  type AuthenticatedRequest,
  type CachedAuthenticator,
  type CriteriaDefinition,
  type Logger,
  type MongoCriteriaDefinitions,
} from '@badgestream/platform';

export interface CriteriaAdminDeps {
  definitions: MongoCriteriaDefinitions;
  authenticator: CachedAuthenticator;
  logger: Logger;
  /** Called after a definition changed status (activated, retired), e.g. to reload the active criteria at once. */
  onChange?: (change: { tenant: string; badgeClass: string }) => void;
  /** `Retry-After` of a 503 when MongoDB cannot be reached. */
  retryAfterSeconds?: number;
  /** Largest accepted request body. */
  maxBodyKb?: number;
  /** Evaluates a stored version over the event history without changing anything (POST /criteria/dry-run). */
  dryRun?: (tenant: string, badgeClass: string, version: number) => Promise<unknown>;
  /** How far the evaluation of an activated version over the history got (GET /criteria/:version/backfill). */
  backfillStatus?: (tenant: string, badgeClass: string, version: number) => Promise<unknown>;
}

/** A request that passed admin authentication: the tenant is `principal.tenant`, and only that. */
export type AdminRequest = AuthenticatedRequest;

export { jsonBody };

/**
 * The criteria admin API, mounted by the service under `/admin`. Every route needs a key of
 * scope `admin`, and every query takes the tenant from that key, never from the body or query.
 *
 *   PUT  /criteria                      store a version (201 created, 200 unchanged, 400, 409)
 *   GET  /criteria[?badgeClass=IRI]     list versions
 *   GET  /criteria/:version?badgeClass=IRI    one version (`latest` for the highest)
 *   POST /criteria/activate  { badgeClass, version }
 *   POST /criteria/retire    { badgeClass, version }
 *   POST /criteria/dry-run   { badgeClass, version }   who would be awarded, revoked or have an award
 *                            replaced, from the event history; nothing is written
 *   GET  /criteria/:version/backfill?badgeClass=IRI   how far the evaluation of the version's last
 *                            activation over the stored history got (BackfillStatus)
 *
 * More admin routes (progress, backfill): add them to the returned router with
 * `router.post('/criteria/backfill', adminRoute(async (req, res) => …))`; they get the same
 * authentication, and `adminRoute` turns errors into the same RFC 7807 problems.
 */
export function createCriteriaAdminRouter(deps: CriteriaAdminDeps): Router {
  const router = Router();
  const retryAfter = String(deps.retryAfterSeconds ?? 5);
  router.use(requireScope('admin', 'Managing criteria', { authenticator: deps.authenticator, logger: deps.logger, retryAfterSeconds: retryAfter }));
  const body = jsonBody(deps.maxBodyKb ?? 256);
  const route = (handler: (req: AdminRequest, res: Response) => Promise<void>) => adminRoute(handler, deps.logger, retryAfter);
  const audit = (req: AdminRequest, action: string, fields: Record<string, unknown>) =>
    deps.logger.info({ tenant: req.principal.tenant, keyId: req.principal.keyId, action, ...fields }, `criteria ${action}`);

  router.put(
    '/criteria',
    body,
    route(async (req, res) => {
      const { definition, created } = await deps.definitions.put(req.principal.tenant, req.body);
      if (created) audit(req, 'stored', { badgeClass: definition.badgeClass, version: definition.version });
      res.setHeader('Location', `${req.baseUrl}/criteria/${definition.version}?badgeClass=${encodeURIComponent(definition.badgeClass)}`);
      res.status(created ? 201 : 200).json(view(definition));
    }),
  );

  router.get(
    '/criteria',
    route(async (req, res) => {
      const badgeClass = req.query.badgeClass;
      if (badgeClass !== undefined && (typeof badgeClass !== 'string' || badgeClass === '')) throw new QueryError('badgeClass must be given once, as an IRI');
      const definitions = await deps.definitions.list(req.principal.tenant, badgeClass === undefined ? {} : { badgeClass });
      res.json({ criteria: definitions.map(summary) });
    }),
  );

  router.get(
    '/criteria/:version',
    route(async (req, res) => {
      const badgeClass = req.query.badgeClass;
      if (typeof badgeClass !== 'string' || badgeClass === '') throw new QueryError('pass the badge class as ?badgeClass=<IRI> (URL-encoded)');
      const raw = req.params.version as string;
      const version = raw === 'latest' ? undefined : versionNumber(raw);
      if (version === null) throw new QueryError(`the version must be a positive integer or "latest", got ${JSON.stringify(raw)}`);
      const definition = await deps.definitions.get(req.principal.tenant, badgeClass, version);
      if (!definition) throw new NotFoundError(`no ${version === undefined ? 'version' : `version ${version}`} of the criteria of ${badgeClass} is stored`);
      res.json(view(definition));
    }),
  );

  const { backfillStatus } = deps;
  if (backfillStatus) {
    router.get(
      '/criteria/:version/backfill',
      route(async (req, res) => {
        const badgeClass = req.query.badgeClass;
        if (typeof badgeClass !== 'string' || badgeClass === '') throw new QueryError('pass the badge class as ?badgeClass=<IRI> (URL-encoded)');
        const version = versionNumber(req.params.version as string);
        if (version === null) throw new QueryError(`the version must be a positive integer, got ${JSON.stringify(req.params.version)}`);
        res.json(await backfillStatus(req.principal.tenant, badgeClass, version));
      }),
    );
  }

  const { dryRun } = deps;
  if (dryRun) {
    router.post(
      '/criteria/dry-run',
      body,
      route(async (req, res) => {
        const { badgeClass, version } = target(req.body);
        res.json(await dryRun(req.principal.tenant, badgeClass, version));
      }),
    );
  }

  router.post(
    '/criteria/activate',
    body,
    route(async (req, res) => {
      const { badgeClass, version } = target(req.body);
      const { definition, retired } = await deps.definitions.activate(req.principal.tenant, badgeClass, version);
      deps.onChange?.({ tenant: req.principal.tenant, badgeClass });
      if (definition.status !== 'active') throw new ConflictError(`another activation of ${badgeClass} happened at the same time and took effect instead; list the versions to see which is active`);
      audit(req, 'activated', { badgeClass, version, retired: retired.map((r) => r.version) });
      res.json({ activated: view(definition), retired: retired.map(summary) });
    }),
  );

  router.post(
    '/criteria/retire',
    body,
    route(async (req, res) => {
      const { badgeClass, version } = target(req.body);
      const definition = await deps.definitions.retire(req.principal.tenant, badgeClass, version);
      deps.onChange?.({ tenant: req.principal.tenant, badgeClass });
      audit(req, 'retired', { badgeClass, version });
      res.json(view(definition));
    }),
  );

  return router;
}

/**
 * Wraps an admin route: its errors become RFC 7807 problems (400 invalid criteria or request,
 * 404, 409, 503 when MongoDB is unreachable, 500 otherwise).
 */
export function adminRoute(handler: (req: AdminRequest, res: Response) => Promise<void>, logger: Logger, retryAfterSeconds = '5'): RequestHandler {
  return async (req, res) => {
    try {
      await handler(req as AdminRequest, res);
    } catch (error) {
      sendAdminError(req, res, error, logger, retryAfterSeconds);
    }
  };
}

function sendAdminError(req: Request, res: Response, error: unknown, logger: Logger, retryAfterSeconds: string): void {
  const instance = req.originalUrl;
  if (error instanceof InvalidCriteriaError) {
    const errors = error.problems.map((p) => ({ pointer: p.pointer, reason: p.reason }));
    const title = `The criteria document has ${errors.length} problem${errors.length === 1 ? '' : 's'}; nothing was stored`;
    sendProblem(res, problem(400, 'invalid-criteria', title, { detail: summarize(errors), instance, errors }));
  } else if (error instanceof QueryError) {
    sendProblem(res, problem(400, 'invalid-request', 'The request is incomplete or malformed', { detail: error.message, instance }));
  } else if (error instanceof NotFoundError) {
    sendProblem(res, problem(404, 'criteria-not-found', 'No such criteria', { detail: error.message, instance }));
  } else if (error instanceof ConflictError) {
    sendProblem(res, problem(409, 'criteria-conflict', 'The criteria conflict with what is stored', { detail: error.message, instance }));
  } else if (error instanceof UnavailableError || isMongoUnreachable(error)) {
    sendProblem(res, problem(503, 'unavailable', 'Criteria cannot be read or stored right now', { detail: (error as Error).message, instance }), { 'Retry-After': retryAfterSeconds });
  } else {
    logger.error({ err: error, path: req.path }, 'unhandled error in the criteria admin API');
    sendProblem(res, problem(500, 'internal', 'Internal error', { detail: 'the error was logged', instance }));
  }
}

/** A malformed query or request body (not a criteria document). */
class QueryError extends Error {}


/** Parses a JSON body (unless an earlier middleware did), answering 415 and 400 as problems. */

function target(body: unknown): { badgeClass: string; version: number } {
  const { badgeClass, version } = (body ?? {}) as { badgeClass?: unknown; version?: unknown };
  if (typeof badgeClass !== 'string' || badgeClass === '') throw new QueryError('the body needs "badgeClass": the IRI of the badge class');
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw new QueryError('the body needs "version": a positive integer');
  return { badgeClass, version };
}

function versionNumber(raw: string): number | null {
  return /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : null;
}

function summary(d: CriteriaDefinition) {
  return {
    badgeClass: d.badgeClass,
    version: d.version,
    status: d.status,
    ...(d.criteria.name !== undefined ? { name: d.criteria.name } : {}),
    createdAt: d.createdAt.toISOString(),
    ...(d.activatedAt ? { activatedAt: d.activatedAt.toISOString() } : {}),
    ...(d.retiredAt ? { retiredAt: d.retiredAt.toISOString() } : {}),
  };
}

function view(d: CriteriaDefinition) {
  return { ...summary(d), criteria: d.criteria };
}

function summarize(errors: { pointer: string; reason: string }[]): string {
  const first = errors.slice(0, 3).map((p) => `${p.pointer || '/'}: ${p.reason}`);
  return first.join('; ') + (errors.length > 3 ? ` (and ${errors.length - 3} more in errors)` : '');
}

function isMongoUnreachable(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name ?? '';
  return name === 'MongoServerSelectionError' || name.startsWith('MongoNetwork') || name === 'MongoNotConnectedError';
}
