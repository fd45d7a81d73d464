import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { badgeObjectType } from '@badgestream/caliper';
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  bearerToken,
  jsonBody,
  problem,
  requireScope,
  sendProblem,
  type AuthenticatedRequest,
  type CachedAuthenticator,
  type Logger,
  type MongoHostedBadgeObjects,
  type MongoReportingSettings,
  type MongoTenantDirectory,
  type RateLimiter,
} from '@badgestream/platform';
import type { IssuerReports } from './reports.js';

export interface IssuerRoutesDeps {
  reports: IssuerReports;
  hosted: MongoHostedBadgeObjects;
  settings: MongoReportingSettings;
  directory: MongoTenantDirectory;
  authenticator: CachedAuthenticator;
  logger: Logger;
  /** Base URL of this deployment: `/hosted/…` objects have IRIs under it. */
  publicUrl: () => string;
  registrations: RateLimiter;
  clientAddress: (req: Request) => string;
  retryAfterSeconds: number;
}

const MAX_NAME = 200;

/**
 * The issuer's end of the report-back loop, beside the Sensor API:
 *
 *   POST   /caliper/consumers        { name, badge, contact? } self-service registration of a consumer
 *                                    of a hosted badge object: a consumer-scoped token of its issuer
 *   DELETE /caliper/consumers/self   the consumer token in Authorization revokes itself
 *   GET    /hosted/…                 a badge object hosted here (IRI = INGEST_PUBLIC_URL + path),
 *                                    decorated with ims:TBAcaliperApi
 *   GET|PUT /admin/reporting         { actions, anonymous }: what the tenant asks consumers to report
 *   PUT    /admin/badge-objects      store a badge object; answers it decorated
 *   GET    /admin/badge-objects      the tenant's badge objects, decorated
 *   GET    /admin/consumers          the tenant's consumer keys
 *   DELETE /admin/consumers/:keyId   revoke one
 */
export function createIssuerRoutes(deps: IssuerRoutesDeps): Router {
  const router = Router();
  const retryAfter = String(deps.retryAfterSeconds);
  const route = (handler: (req: Request, res: Response) => Promise<void>): RequestHandler => async (req, res) => {
    try {
      await handler(req, res);
    } catch (error) {
      sendError(req, res, error, deps.logger, retryAfter);
    }
  };

  router.post(
    '/caliper/consumers',
    (req: Request, res: Response, next: NextFunction) => {
      const wait = deps.registrations.take(deps.clientAddress(req));
      if (wait > 0) return tooMany(res, req, 'Too many registrations from this address', wait);
      next();
    },
    jsonBody(8),
    route(async (req, res) => {
      const { name, badge, contact } = registration(req.body);
      const tenant = await deps.reports.hostOf(badge);
      if (!tenant) throw new NotFoundError(`${badge} is not a badge object hosted here; register with the IRI of a badge object whose ims:TBAcaliperApi names this endpoint`);
      const { key, token } = await deps.directory.createKey(tenant, 'consumer', `consumer: ${name}${contact ? ` <${contact}>` : ''}`);
      const settings = await deps.settings.get(tenant);
      deps.logger.info({ tenant, keyId: key.id, consumer: name, address: deps.clientAddress(req) }, 'consumer registered');
      res.status(201).json({ token, keyId: key.id, endpoint: deps.reports.caliperEndpoint(), actions: settings.actions, anonymous: settings.anonymous });
    }),
  );

  router.delete(
    '/caliper/consumers/self',
    route(async (req, res) => {
      const token = bearerToken(req.headers.authorization);
      const principal = token ? await deps.authenticator.authenticate(token) : undefined;
      if (!principal || principal.scope !== 'consumer') {
        sendProblem(res, problem(401, 'unauthenticated', 'Send the consumer token to revoke as Authorization: Bearer <token>', { instance: req.originalUrl }), { 'WWW-Authenticate': 'Bearer realm="caliper"' });
        return;
      }
      await deps.directory.revokeKey(principal.keyId);
      deps.logger.info({ tenant: principal.tenant, keyId: principal.keyId }, 'consumer token revoked by its holder');
      res.status(204).end();
    }),
  );

  router.get(
    /^\/hosted\/.+/,
    route(async (req, res) => {
      const iri = `${deps.publicUrl()}${req.path}`;
      const hosted = await deps.hosted.get(iri);
      if (!hosted) throw new NotFoundError(`no badge object ${iri} is hosted here`);
      res.type('application/ld+json').send(JSON.stringify(await deps.reports.decorate(hosted)));
    }),
  );

  const admin = Router();
  admin.use(requireScope('admin', 'Managing reporting', { authenticator: deps.authenticator, logger: deps.logger, retryAfterSeconds: retryAfter }));
  const tenantOf = (req: Request) => (req as AuthenticatedRequest).principal.tenant;
  admin.get(
    '/reporting',
    route(async (req, res) => void res.json(await deps.settings.get(tenantOf(req)))),
  );
  admin.put(
    '/reporting',
    jsonBody(8),
    route(async (req, res) => void res.json(await deps.settings.put(tenantOf(req), req.body))),
  );
  admin.put(
    '/badge-objects',
    jsonBody(256),
    route(async (req, res) => {
      const object = req.body as unknown;
      if (!object || typeof object !== 'object' || Array.isArray(object)) throw new InvalidInputError('the body must be a badge object: {"id": IRI, "type": "BadgeClass" | "Issuer" | "Assertion" | "PathwayElement", …}');
      const json = object as Record<string, unknown>;
      if (typeof json.id !== 'string' || !/^https?:\/\//.test(json.id)) throw new InvalidInputError('id must be the http(s) IRI the badge object is hosted at');
      if (!badgeObjectType(json)) throw new InvalidInputError(`type must be BadgeClass, Issuer, Assertion or PathwayElement; got ${JSON.stringify(json.type ?? null)}`);
      const stored = await deps.hosted.put(tenantOf(req), json, 'admin');
      res.json(await deps.reports.decorate(stored));
    }),
  );
  admin.get(
    '/badge-objects',
    route(async (req, res) => {
      const objects = await deps.hosted.list(tenantOf(req));
      res.json({ badgeObjects: await Promise.all(objects.map((o) => deps.reports.decorate(o))) });
    }),
  );
  admin.get(
    '/consumers',
    route(async (req, res) => {
      const keys = (await deps.directory.listKeys(tenantOf(req))).filter((k) => k.scope === 'consumer');
      res.json({ consumers: keys });
    }),
  );
  admin.delete(
    '/consumers/:keyId',
    route(async (req, res) => {
      const keyId = String(req.params.keyId);
      const key = (await deps.directory.listKeys(tenantOf(req))).find((k) => k.id === keyId && k.scope === 'consumer');
      if (!key) throw new NotFoundError(`this tenant has no consumer key ${keyId}`);
      res.json(await deps.directory.revokeKey(keyId));
    }),
  );
  router.use('/admin', admin);
  return router;
}

function registration(body: unknown): { name: string; badge: string; contact?: string } {
  const shape = '{"name": "who you are", "badge": "IRI of a badge object hosted here", "contact"?: "email or URL"}';
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidInputError(`the registration must be a JSON object: ${shape}`);
  const { name, badge, contact, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidInputError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; send ${shape}`);
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) throw new InvalidInputError(`name must be a non-empty string of at most ${MAX_NAME} characters`);
  if (typeof badge !== 'string' || !/^https?:\/\//.test(badge)) throw new InvalidInputError('badge must be the http(s) IRI of a badge object hosted here');
  if (contact !== undefined && (typeof contact !== 'string' || contact.length > MAX_NAME)) throw new InvalidInputError(`contact must be a string of at most ${MAX_NAME} characters`);
  return { name: name.trim(), badge, ...(contact ? { contact } : {}) };
}

export function tooMany(res: Response, req: Request, title: string, waitMs: number): void {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  sendProblem(res, problem(429, 'rate-limited', title, { detail: `try again in ${seconds} s`, instance: req.originalUrl }), { 'Retry-After': String(seconds) });
}

function sendError(req: Request, res: Response, error: unknown, logger: Logger, retryAfter: string): void {
  const instance = req.originalUrl;
  if (error instanceof InvalidInputError) sendProblem(res, problem(400, 'invalid-request', 'The request is incomplete or malformed', { detail: error.message, instance }));
  else if (error instanceof NotFoundError) sendProblem(res, problem(404, 'not-found', 'Not found', { detail: error.message, instance }));
  else if (error instanceof ConflictError) sendProblem(res, problem(409, 'conflict', 'Conflicts with what is stored', { detail: error.message, instance }));
  else if ((error as { name?: string }).name?.startsWith('Mongo')) sendProblem(res, problem(503, 'unavailable', 'Cannot be read or stored right now', { detail: (error as Error).message, instance }), { 'Retry-After': retryAfter });
  else {
    logger.error({ err: error, path: req.path }, 'unhandled error in the reporting routes');
    sendProblem(res, problem(500, 'internal', 'Internal error', { detail: 'the error was logged', instance }));
  }
}
