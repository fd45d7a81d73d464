import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Registry } from 'prom-client';
import { BadgestreamError } from '../errors.js';

/**
 * The operational routes every consumer service has: `/healthz` (the process answers),
 * `/readyz` (its dependencies answer, 503 with the reason otherwise, or while shutting down) and
 * `/metrics` (Prometheus).
 */
export function addOperationalRoutes(app: Express, deps: { metrics: Registry; isShuttingDown: () => boolean; checkReady: () => Promise<Record<string, string>> }): void {
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    if (deps.isShuttingDown()) return void res.status(503).json({ status: 'shutting down' });
    try {
      res.json({ status: 'ready', checks: await deps.checkReady() });
    } catch (error) {
      res.status(503).json({ status: 'not ready', reason: (error as Error).message });
    }
  });
  app.get('/metrics', async (_req, res) => void res.type(deps.metrics.contentType).send(await deps.metrics.metrics()));
}

/** Starts listening; resolves with the server, the port it got, and its URL. */
export async function listen(app: Express, host: string, port: number): Promise<{ server: Server; port: number; url: string; close: () => Promise<void> }> {
  const server = await bind(app, host, port);
  const bound = (server.address() as AddressInfo).port;
  return { server, port: bound, url: `http://${host}:${bound}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Listens on host:port; a port in use or an address that cannot be bound is a BadgestreamError saying which. */
export function bind(app: Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Express 5 passes a failure to listen to the callback (and emits it on the server).
    const s = app.listen(port, host, (error?: Error) => (error ? reject(cannotListen(error, host, port)) : resolve(s)));
    s.once('error', (error) => reject(cannotListen(error, host, port)));
  });
}

function cannotListen(error: Error, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new BadgestreamError(`cannot listen on ${host}:${port}: the port is in use by another process (stop it, or choose another port with the service's *_PORT variable)`, {
      code: 'PORT_IN_USE',
      cause: error,
    });
  return new BadgestreamError(`cannot listen on ${host}:${port}: ${error.message}`, { code: 'CANNOT_LISTEN', cause: error });
}
