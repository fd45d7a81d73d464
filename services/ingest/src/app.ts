import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { SUPPORTED_DATA_VERSIONS, type EnvelopeProblem } from '@badgestream/caliper';
import { OPEN_BADGES_CONTEXT_IRI, OPEN_BADGES_PROFILE } from '@badgestream/profile-open-badges';
import { UnavailableError, bearerToken, problem, sendProblem, type CachedAuthenticator, type Logger, type Principal, type RateLimiter, type Registry } from '@badgestream/platform';
import { tooMany } from './issuer-routes.js';
import type { IngestService } from './ingest-service.js';
import type { IngestMetrics } from './metrics.js';

export interface IngestAppDeps {
  service: IngestService;
  authenticator: CachedAuthenticator;
  logger: Logger;
  metrics: IngestMetrics;
  metricsRegistry: Registry;
  /** Resolves when every dependency is reachable; rejects with the reason otherwise. */
  checkReady: () => Promise<Record<string, string>>;
  isShuttingDown: () => boolean;
  maxPayloadKb: number;
  retryAfterSeconds: number;
  /** The issuer's end of the report-back loop (registration, hosted badge objects, reporting settings). */
  issuerRoutes: express.Router;
  /** Rate limits of consumer tokens (per token, per address) and of anonymous reports (per address). */
  limits: { perToken: RateLimiter; perAddress: RateLimiter; anonymous: RateLimiter };
  clientAddress: (req: Request) => string;
  /** Client addresses from X-Forwarded-For (behind a trusted reverse proxy). */
  trustProxy?: boolean;
}

/** `anonymous`: POST /caliper without an Authorization header, a candidate anonymous report. */
type AuthedRequest = Request & { principal?: Principal; anonymous?: boolean; requestId?: string };

const JSON_TYPES = ['application/json', 'application/ld+json'];

/** The HTTP presenter of the Caliper Sensor API: translates requests and errors, nothing more. */
export function createIngestApp(deps: IngestAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.trustProxy ?? false);
  app.use(observe(deps));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    if (deps.isShuttingDown()) {
      res.status(503).json({ status: 'shutting down' });
      return;
    }
    try {
      res.json({ status: 'ready', checks: await deps.checkReady() });
    } catch (error) {
      res.status(503).json({ status: 'not ready', reason: (error as Error).message });
    }
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metricsRegistry.contentType).send(await deps.metricsRegistry.metrics());
  });

  const authenticate = authenticator(deps);

  app.get('/caliper', authenticate, (_req, res) => {
    res.json({
      caliperSupportedVersions: SUPPORTED_DATA_VERSIONS,
      caliperMaximumPayloadSize: deps.maxPayloadKb,
      caliperSupportedExtensions: { [OPEN_BADGES_PROFILE]: OPEN_BADGES_CONTEXT_IRI },
    });
  });

  app.use(deps.issuerRoutes);

  app.post(
    '/caliper',
    authenticator(deps, { allowAnonymous: true }),
    rateLimit(deps),
    requireJson(deps),
    express.raw({ type: () => true, limit: deps.maxPayloadKb * 1024 }),
    async (req: AuthedRequest, res: Response, next: NextFunction) => {
      const principal = req.principal;
      const body = parseJson(req.body as Buffer);
      if (!body.ok) {
        deps.metrics.events.inc({ outcome: 'rejected', reason: 'invalid_json' });
        sendProblem(res, problem(400, 'invalid-json', 'The body is not valid JSON', { detail: body.reason, instance: req.originalUrl }));
        return;
      }
      try {
        const outcome = principal ? await deps.service.ingest(principal, body.value) : await deps.service.ingestAnonymous(body.value);
        const log = deps.logger.child({ requestId: req.requestId, tenant: principal?.tenant, keyId: principal?.keyId, anonymous: !principal });
        if (outcome.kind === 'accepted') {
          deps.metrics.events.inc({ outcome: 'accepted', reason: '' }, outcome.events + outcome.entities);
          log.debug({ events: outcome.events, entities: outcome.entities }, 'envelope accepted');
          res.status(200).json({ accepted: { events: outcome.events, entities: outcome.entities } });
          return;
        }
        const reason = outcome.slug === 'action-not-advertised' ? 'not_advertised' : (REJECTION_REASONS[outcome.status] ?? 'invalid');
        deps.metrics.events.inc({ outcome: 'rejected', reason }, itemCount(body.value));
        log.info({ status: outcome.status, problems: outcome.problems.slice(0, 5) }, 'envelope rejected');
        sendProblem(
          res,
          problem(outcome.status, outcome.slug ?? slugFor(outcome.status), outcome.title, { detail: summarize(outcome.problems), instance: req.originalUrl, errors: outcome.problems }),
          outcome.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="caliper"' } : {},
        );
      } catch (error) {
        if (error instanceof UnavailableError) {
          deps.metrics.events.inc({ outcome: 'rejected', reason: 'unavailable' }, itemCount(body.value));
          sendProblem(
            res,
            problem(503, 'unavailable', 'Events cannot be stored right now', {
              detail: `${error.message}. Nothing of this envelope was stored; send it again after the Retry-After delay.`,
              instance: req.originalUrl,
            }),
            { 'Retry-After': String(deps.retryAfterSeconds) },
          );
          return;
        }
        next(error);
      }
    },
  );

  app.all('/caliper', (req, res) => {
    sendProblem(res, problem(405, 'method-not-allowed', `${req.method} is not supported on /caliper; use POST to send events or GET for the configuration`), { Allow: 'GET, POST' });
  });

  app.use((req, res) => {
    sendProblem(res, problem(404, 'not-found', `No route for ${req.method} ${req.path}`));
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: number; type?: string }).status;
    if ((error as { type?: string }).type === 'entity.too.large' || status === 413) {
      deps.metrics.events.inc({ outcome: 'rejected', reason: 'too_large' });
      sendProblem(res, problem(413, 'payload-too-large', 'The envelope is too large', { detail: `the largest accepted body is ${deps.maxPayloadKb} KiB; split the events over several envelopes`, instance: req.originalUrl }));
      return;
    }
    if (status === 400 || (error as { type?: string }).type === 'request.aborted') {
      sendProblem(res, problem(400, 'bad-request', 'The request could not be read', { detail: (error as Error).message }));
      return;
    }
    deps.logger.error({ err: error, path: req.path }, 'unhandled error');
    sendProblem(res, problem(500, 'internal', 'Internal error', { detail: 'the error was logged; nothing of this request was stored' }));
  });

  return app;
}

function authenticator(deps: IngestAppDeps, options: { allowAnonymous?: boolean } = {}) {
  return async (req: AuthedRequest, res: Response, next: NextFunction) => {
    if (options.allowAnonymous && req.headers.authorization === undefined) {
      req.anonymous = true;
      return next();
    }
    const token = bearerToken(req.headers.authorization);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="caliper"' };
    if (!token) {
      deps.metrics.events.inc({ outcome: 'rejected', reason: 'unauthenticated' });
      sendProblem(res, problem(401, 'unauthenticated', 'A bearer token is required', { detail: 'send Authorization: Bearer <token>; create a key with: badgestream keys create --tenant NAME --scope sensor' }), challenge);
      return;
    }
    try {
      const principal = await deps.authenticator.authenticate(token);
      if (!principal) {
        deps.metrics.events.inc({ outcome: 'rejected', reason: 'unauthenticated' });
        sendProblem(res, problem(401, 'unauthenticated', 'The bearer token is unknown or revoked'), { ...challenge, 'WWW-Authenticate': 'Bearer realm="caliper", error="invalid_token"' });
        return;
      }
      req.principal = principal;
      next();
    } catch (error) {
      deps.logger.warn({ err: error }, 'token lookup failed');
      sendProblem(res, problem(503, 'unavailable', 'Credentials cannot be checked right now', { detail: (error as Error).message }), { 'Retry-After': String(deps.retryAfterSeconds) });
    }
  };
}

/** Consumer tokens per token and per address, anonymous reports per address: 429 with Retry-After beyond. */
function rateLimit(deps: IngestAppDeps) {
  return (req: AuthedRequest, res: Response, next: NextFunction) => {
    const address = deps.clientAddress(req);
    let wait = 0;
    let title = '';
    if (req.anonymous) {
      wait = deps.limits.anonymous.take(address);
      title = `Too many anonymous reports from this address (at most ${deps.limits.anonymous.limit} a minute)`;
    } else if (req.principal?.scope === 'consumer') {
      wait = deps.limits.perToken.take(req.principal.keyId);
      title = `Too many reports with this token (at most ${deps.limits.perToken.limit} a minute)`;
      if (wait === 0) {
        wait = deps.limits.perAddress.take(address);
        title = `Too many reports from this address (at most ${deps.limits.perAddress.limit} a minute)`;
      }
    }
    if (wait === 0) return next();
    deps.metrics.events.inc({ outcome: 'rejected', reason: 'rate_limited' });
    tooMany(res, req, title, wait);
  };
}

function requireJson(deps: IngestAppDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!JSON_TYPES.includes(type)) {
      deps.metrics.events.inc({ outcome: 'rejected', reason: 'unsupported_media_type' });
      sendProblem(res, problem(415, 'unsupported-media-type', 'Caliper envelopes must be sent as application/json', { detail: `got Content-Type ${JSON.stringify(req.headers['content-type'] ?? '(none)')}` }));
      return;
    }
    next();
  };
}

function observe(deps: IngestAppDeps) {
  return (req: AuthedRequest, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    req.requestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'].slice(0, 128) : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    // While draining, close each connection after its response so shutdown need not wait for keep-alive timeouts.
    if (deps.isShuttingDown()) res.setHeader('Connection', 'close');
    res.on('finish', () => {
      const route = ['/caliper', '/healthz', '/readyz', '/metrics'].includes(req.path) ? req.path : 'other';
      deps.metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.requestSeconds.observe({ route }, seconds);
      if (route === '/caliper' || res.statusCode >= 500) {
        deps.logger.info({ requestId: req.requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1000), tenant: req.principal?.tenant }, 'request');
      }
    });
    next();
  };
}

function parseJson(raw: Buffer | undefined): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (!raw || raw.length === 0) return { ok: false, reason: 'the body is empty; send a Caliper envelope' };
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function itemCount(body: unknown): number {
  const data = (body as { data?: unknown } | null)?.data;
  return Array.isArray(data) && data.length > 0 ? data.length : 1;
}

const REJECTION_REASONS: Partial<Record<number, string>> = { 401: 'unauthenticated', 403: 'forbidden', 404: 'not_hosted', 422: 'unsupported_version' };

function slugFor(status: number): string {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden-action';
  if (status === 422) return 'unsupported-data-version';
  return 'invalid-envelope';
}

function summarize(problems: EnvelopeProblem[]): string {
  const first = problems.slice(0, 3).map((p) => `${p.pointer || '/'}: ${p.reason}`);
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more in errors)` : '';
  return first.join('; ') + more;
}
