import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Principal, Scope } from '../ports.js';
import type { Logger } from '../logger.js';
import { bearerToken, type CachedAuthenticator } from './auth.js';
import { problem, sendProblem } from './problem.js';

/** A request that passed `requireScope`: the tenant is `principal.tenant`, and only that. */
export type AuthenticatedRequest = Request & { principal: Principal };

/**
 * Admits requests whose bearer token is a live key of the scope; 401 without or with an unknown
 * token, 403 for another scope (`what` says what the scope is needed for), 503 when keys cannot
 * be checked.
 */
export function requireScope(scope: Scope, what: string, deps: { authenticator: CachedAuthenticator; logger: Logger; retryAfterSeconds: string }): RequestHandler {
  const realm = `badgestream-${scope}`;
  return async (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      sendProblem(res, problem(401, 'unauthenticated', 'A bearer token is required', { detail: `send Authorization: Bearer <token> with a key of scope ${scope}; create one with: badgestream keys create --tenant NAME --scope ${scope}` }), {
        'WWW-Authenticate': `Bearer realm="${realm}"`,
      });
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = await deps.authenticator.authenticate(token);
    } catch (error) {
      deps.logger.warn({ err: error }, 'token lookup failed');
      sendProblem(res, problem(503, 'unavailable', 'Credentials cannot be checked right now', { detail: (error as Error).message }), { 'Retry-After': deps.retryAfterSeconds });
      return;
    }
    if (!principal) {
      sendProblem(res, problem(401, 'unauthenticated', 'The bearer token is unknown or revoked'), { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` });
      return;
    }
    if (principal.scope !== scope) {
      sendProblem(res, problem(403, 'forbidden-scope', `${what} needs a key of scope ${scope}`, { detail: `this key has scope ${principal.scope}`, instance: req.originalUrl }));
      return;
    }
    (req as AuthenticatedRequest).principal = principal;
    next();
  };
}

/** Parses a JSON body of at most `maxBodyKb`: 415 for another content type, 413 too large, 400 not JSON. */
export function jsonBody(maxBodyKb: number): RequestHandler {
  const parse = express.json({ limit: maxBodyKb * 1024, strict: false });
  return (req, res, next) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      sendProblem(res, problem(415, 'unsupported-media-type', 'Send the body as application/json', { detail: `got Content-Type ${JSON.stringify(req.headers['content-type'] ?? '(none)')}`, instance: req.originalUrl }));
      return;
    }
    parse(req, res, (error?: unknown) => {
      if (!error) return next();
      const status = (error as { status?: number }).status === 413 ? 413 : 400;
      const title = status === 413 ? `The body is larger than ${maxBodyKb} KiB` : 'The body is not valid JSON';
      sendProblem(res, problem(status, status === 413 ? 'payload-too-large' : 'invalid-json', title, { detail: (error as Error).message, instance: req.originalUrl }));
    });
  };
}
