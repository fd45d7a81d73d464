import { Router, type Response } from 'express';
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  OUTBOX_STATUSES,
  problem,
  sendProblem,
  type IssuerSettings,
  type Logger,
  type MongoIssuerSettings,
  type MongoOutbox,
  type OutboxEntry,
} from '@badgestream/platform';
import { adminRoute, jsonBody, type AdminRequest } from './admin-app.js';

export interface IssuerRoutesDeps {
  issuers: MongoIssuerSettings;
  outbox: MongoOutbox;
  logger: Logger;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/**
 * How awards reach the tenant's issuer, and the deliveries on their way. Mounted inside the
 * criteria admin router (`createCriteriaAdminRouter(…).use(createIssuerRouter(…))`), so every
 * route has its admin authentication, and the tenant is the key's, never the request's.
 *
 *   PUT  /issuer                      { mode, webhookUrl?, rotateSecret? } → the settings, and the
 *                                     signing secret once, when it is generated
 *   GET  /issuer                      the settings (never the secret)
 *   GET  /deliveries?status=&limit=   outbox entries, newest first, with their attempt logs
 *   POST /deliveries/:id/retry        a failed entry back to pending (409 if it is not failed)
 */
export function createIssuerRouter(deps: IssuerRoutesDeps): Router {
  const router = Router();
  const route = (handler: (req: AdminRequest, res: Response) => Promise<void>) =>
    adminRoute(async (req, res) => {
      try {
        await handler(req, res);
      } catch (error) {
        if (!sendKnownProblem(req, res, error)) throw error;
      }
    }, deps.logger);

  router.put(
    '/issuer',
    jsonBody(16),
    route(async (req, res) => {
      const { settings, secret } = await deps.issuers.put(req.principal.tenant, req.body);
      deps.logger.info({ tenant: req.principal.tenant, keyId: req.principal.keyId, action: 'issuer-set', mode: settings.mode, webhookUrl: settings.webhookUrl, secretGenerated: secret !== undefined }, 'issuing settings set');
      res.json({ ...settingsView(settings), ...(secret ? { secret } : {}) });
    }),
  );

  router.get(
    '/issuer',
    route(async (req, res) => {
      res.json(settingsView(await deps.issuers.get(req.principal.tenant)));
    }),
  );

  router.get(
    '/deliveries',
    route(async (req, res) => {
      const { status, limit } = req.query;
      if (status !== undefined && (typeof status !== 'string' || !OUTBOX_STATUSES.includes(status as OutboxEntry['status']))) {
        throw new InvalidInputError(`status must be one of ${OUTBOX_STATUSES.join(', ')}`);
      }
      if (limit !== undefined && (typeof limit !== 'string' || !/^[1-9]\d{0,3}$/.test(limit) || Number(limit) > MAX_LIMIT)) {
        throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_LIMIT}`);
      }
      const entries = await deps.outbox.list(req.principal.tenant, { ...(status ? { status: status as OutboxEntry['status'] } : {}), limit: limit ? Number(limit) : DEFAULT_LIMIT });
      res.json({ deliveries: entries.map(deliveryView) });
    }),
  );

  router.post(
    '/deliveries/:id/retry',
    route(async (req, res) => {
      const id = req.params.id as string;
      const result = await deps.outbox.retry(req.principal.tenant, id);
      if (!result) throw new NotFoundError(`this tenant has no delivery ${id}`);
      if (!result.retried) throw new ConflictError(`delivery ${id} is ${result.entry.status}; only a failed delivery can be retried`);
      deps.logger.info({ tenant: req.principal.tenant, keyId: req.principal.keyId, action: 'delivery-retry', effectId: id }, 'failed delivery put back to pending');
      res.json(deliveryView(result.entry));
    }),
  );

  return router;
}

function sendKnownProblem(req: AdminRequest, res: Response, error: unknown): boolean {
  const instance = req.originalUrl;
  const detail = (error as Error).message;
  if (error instanceof InvalidInputError) sendProblem(res, problem(400, 'invalid-request', 'The request is incomplete or malformed', { detail, instance }));
  else if (error instanceof NotFoundError) sendProblem(res, problem(404, 'not-found', 'No such delivery', { detail, instance }));
  else if (error instanceof ConflictError) sendProblem(res, problem(409, 'conflict', 'The request conflicts with what is stored', { detail, instance }));
  else return false;
  return true;
}


export function settingsView(s: IssuerSettings) {
  return {
    mode: s.mode,
    ...(s.webhookUrl ? { webhookUrl: s.webhookUrl } : {}),
    hasSecret: s.hasSecret,
    ...(s.secretCreatedAt ? { secretCreatedAt: s.secretCreatedAt.toISOString() } : {}),
    ...(s.updatedAt ? { updatedAt: s.updatedAt.toISOString() } : {}),
  };
}

export function deliveryView(e: OutboxEntry) {
  return {
    id: e._id,
    kind: e.kind,
    status: e.status,
    learner: e.learner,
    badgeClass: e.effect.badgeClass,
    criteriaVersion: e.effect.criteriaVersion,
    awardId: e.effect.awardId,
    published: e.published ?? false,
    ...(e.issuing ? { issuing: e.issuing } : {}),
    ...(e.webhook ? { webhook: e.webhook } : {}),
    attempts: e.attempts,
    webhookAttempts: e.webhookAttempts ?? 0,
    createdAt: e.createdAt.toISOString(),
    ...(e.status === 'pending' ? { nextAttemptAt: e.nextAttemptAt.toISOString() } : {}),
    ...(e.publishedAt ? { publishedAt: e.publishedAt.toISOString() } : {}),
    ...(e.doneAt ? { doneAt: e.doneAt.toISOString() } : {}),
    ...(e.failedAt ? { failedAt: e.failedAt.toISOString() } : {}),
    ...(e.lastError ? { lastError: e.lastError } : {}),
    attemptLog: (e.attemptLog ?? []).map((a) => ({ ...a, at: a.at.toISOString() })),
  };
}
