import express, { type Request, type Response } from 'express';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import {
  CachedAuthenticator,
  MongoTenantDirectory,
  PollLoop,
  TOPICS,
  addOperationalRoutes,
  kafkaBackend,
  createLogger,
  listen,
  problem,
  requireScope,
  sendProblem,
  type AuthenticatedRequest,
  type Backend,
  type Logger,
} from '@badgestream/platform';
import type { ReportingConfig } from './config.js';
import { streamCsv } from './csv.js';
import { issuerPage } from './issuer-page.js';
import { LrsConnector } from './lrs-connector.js';
import { openApiDocument } from './openapi.js';
import { InvalidQueryError, QUERY_KINDS, answer, parseQuery, type Query, type QueryKind } from './queries.js';
import { RollupConsumer } from './rollup-consumer.js';
import { decodeFacts } from './slice-data.js';
import { MongoReportingStore, sliceCounts } from './store.js';
import { ReportingView } from './view.js';
import { ViewSync } from './view-sync.js';
import { statementOf } from './xapi.js';

export interface RunningReporting {
  url: string;
  port: number;
  logger: Logger;
  close(): Promise<void>;
}

/** The columns of each query's CSV (and of its JSON rows). */
export const CSV_COLUMNS: Record<QueryKind, (q: Query) => string[]> = {
  counts: (q) => ['bucket', 'action', 'events', ...(q.kind === 'counts' && q.distinct ? ['recipients', 'actors'] : [])],
  funnel: () => ['stage', 'recipients', 'conversion', 'ofFirst'],
  ratios: () => ['ratio', 'numerator', 'denominator', 'value'],
  consumers: () => ['action', 'actor', 'edApp', 'events'],
  'time-to-earn': () => ['percentile', 'seconds'],
  'top-badges': () => ['rank', 'badgeClass', 'issuer', 'value'],
  summary: () => ['action', 'events', 'recipients', 'actors'],
};

/**
 * The reporting service: a consumer group over caliper.events that counts every event once into
 * slices in MongoDB, a view of those slices in memory, and the reporting API that answers from it
 * (reader keys; the tenant is the key's, never the request's).
 */
export async function startReporting(
  config: ReportingConfig,
  logger: Logger = createLogger('reporting', config.logLevel),
  backend: Backend = kafkaBackend(config, loadKafkaValueSchemas()),
): Promise<RunningReporting> {
  const infrastructure = await backend.connect('reporting', logger);
  const { metrics, db } = infrastructure;
  const directory = new MongoTenantDirectory(db);
  const store = new MongoReportingStore(db, config.groupId);
  await Promise.all([directory.init(), store.init()]);

  const lrs = config.lrsEndpoint
    ? new LrsConnector(
        db,
        {
          endpoint: config.lrsEndpoint,
          tenant: config.lrsTenant,
          authorization: config.lrsAuthorization,
          batch: config.lrsBatch,
          timeoutMs: config.lrsTimeoutMs,
          backoff: { baseMs: config.lrsBackoffBaseMs, maxMs: config.lrsBackoffMaxMs },
          destinations: { allowPrivateAddresses: config.lrsAllowPrivateAddresses, hint: 'set REPORTING_LRS_ALLOW_PRIVATE_ADDRESSES=true to allow it' },
        },
        logger,
        metrics,
      )
    : undefined;
  await lrs?.init();

  const view = new ReportingView();
  const sync = new ViewSync(store, view, logger, (entry, facts) => lrs?.offer(entry, facts));
  await sync.loadAll();
  const refresher = new PollLoop(async () => (await sync.refresh()) > 0, config.refreshMs, (error) => logger.warn({ err: error }, 'reading slices of other instances failed; trying again'));

  const rollups = new RollupConsumer({ store, logger, metrics, duplicateWindowMs: config.duplicateWindowHours * 3_600_000, onSlice: (entry, facts) => sync.applyOwn(entry, facts) });
  const runner = infrastructure.consumer({
    groupId: config.groupId,
    topics: [TOPICS.events],
    deadLetterTopic: TOPICS.eventsDeadLetters,
    concurrency: config.concurrency,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxRecordsPerCommit: config.sliceRecords,
    maxBytesPerPartition: config.fetchBytes,
    onAssignment: rollups.onAssignment,
    handleBatch: (records) => rollups.handleBatch(records),
  });

  const authenticator = new CachedAuthenticator(directory, config.authCacheTtlMs);
  const reader = requireScope('reader', 'Reports', { authenticator, logger, retryAfterSeconds: '5' });
  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  addOperationalRoutes(app, {
    metrics,
    isShuttingDown: () => shuttingDown,
    checkReady: () => infrastructure.checkReady(),
  });
  app.get('/openapi.json', (_req, res) => void res.json(openApiDocument()));

  for (const kind of QUERY_KINDS) {
    app.get(`/reports/${kind}`, reader, async (req: Request, res: Response) => {
      const tenant = (req as AuthenticatedRequest).principal.tenant;
      let query: Query;
      try {
        query = parseQuery(kind, req.query as Record<string, unknown>);
      } catch (error) {
        if (!(error instanceof InvalidQueryError)) throw error;
        sendProblem(res, problem(400, 'invalid-query', 'The query cannot be answered as asked', { detail: error.message, instance: req.originalUrl, errors: error.errors }));
        return;
      }
      const result = answer(view.tenant(tenant), query);
      if (wantsCsv(req)) {
        await streamCsv(res, `${kind}.csv`, CSV_COLUMNS[kind](query), result.rows);
        return;
      }
      res.json({ tenant, query: describeQuery(query), rows: result.rows, ...(result.extra ?? {}) });
    });
  }

  app.get('/exports/xapi', reader, async (req: Request, res: Response) => {
    const tenant = (req as AuthenticatedRequest).principal.tenant;
    let range: Query;
    try {
      range = parseQuery('ratios', req.query as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof InvalidQueryError)) throw error;
      sendProblem(res, problem(400, 'invalid-query', 'The export cannot be made as asked', { detail: error.message, instance: req.originalUrl, errors: error.errors }));
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Disposition', 'attachment; filename="statements.json"');
    // Complete slices only, as the view counts them.
    const checkpoints = await store.checkpointsByPartition();
    const entries = new Map((await store.allEntries()).map((e) => [e._id, e]));
    let first = true;
    res.write('[');
    for await (const { id, data } of store.allSliceData()) {
      const entry = entries.get(id);
      if (!entry || !sliceCounts(entry, checkpoints.get(entry.partition))) continue;
      const statements = decodeFacts(data)
        .filter((f) => f.badge && f.tenant === tenant && f.time >= range.from && f.time < range.to && (!range.badgeClass || f.badgeClass === range.badgeClass) && (!range.issuer || f.issuer === range.issuer))
        .map((f) => JSON.stringify(statementOf(f)));
      if (statements.length === 0) continue;
      const chunk = (first ? '' : ',') + statements.join(',');
      first = false;
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
    }
    res.end(']');
  });
  app.get('/exports/xapi/status', reader, (req: Request, res: Response) => {
    const tenant = (req as AuthenticatedRequest).principal.tenant;
    const status = lrs?.status();
    res.json({ connectors: status && status.tenant === tenant ? [status] : [] });
  });
  app.use(issuerPage());
  app.use((req, res) => sendProblem(res, problem(404, 'not-found', `No route for ${req.method} ${req.path}`, { detail: `reports are at ${QUERY_KINDS.map((k) => `/reports/${k}`).join(', ')}; the API is described at /openapi.json` })));
  app.use((error: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    logger.error({ err: error, path: req.path }, 'report failed');
    if (!res.headersSent) sendProblem(res, problem(500, 'internal', 'The report failed', { instance: req.originalUrl }));
    else res.destroy();
  });

  refresher.start();
  lrs?.start();
  await runner.start();
  const { server, port, url, close } = await listen(app, config.host, config.port);
  // Longer than the usual idle time of clients and proxies that keep connections open: a
  // connection the server closes just as a client reuses it fails that client's request.
  server.keepAliveTimeout = 65_000;
  logger.info({ url, group: config.groupId, ...infrastructure.describe() }, 'reporting consumer and API running');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    logger,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        await runner.stop();
        await refresher.stop();
        await lrs?.stop();
        await close();
        await infrastructure.close();
        logger.info('reporting stopped');
      })()),
  };
}

function wantsCsv(req: Request): boolean {
  if (req.query.format === 'csv') return true;
  if (req.query.format === 'json') return false;
  return req.accepts(['application/json', 'text/csv']) === 'text/csv';
}

function describeQuery(q: Query): Record<string, unknown> {
  const { from, to, ...rest } = q;
  return { ...rest, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}
