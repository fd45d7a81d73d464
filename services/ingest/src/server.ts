import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ContextChecker, EnvelopeInspector, createSchemaValidator } from '@badgestream/caliper';
import { loadContexts, loadKafkaValueSchemas } from '@badgestream/schemas';
import { loadProfileContexts } from '@badgestream/profile-open-badges';
import type { Request } from 'express';
import {
  CachedAuthenticator,
  MongoHostedBadgeObjects,
  MongoReportingSettings,
  MongoTenantDirectory,
  RateLimiter,
  bind,
  createLogger,
  kafkaBackend,
  type Backend,
  type Logger,
} from '@badgestream/platform';
import { createIngestApp } from './app.js';
import type { IngestConfig } from './config.js';
import { IngestService } from './ingest-service.js';
import { createIssuerRoutes } from './issuer-routes.js';
import { IssuerReports } from './reports.js';
import { createIngestMetrics } from './metrics.js';

export interface RunningIngest {
  url: string;
  port: number;
  logger: Logger;
  /** Stops accepting, finishes in-flight requests, then closes the event log and the store. */
  close(): Promise<void>;
}

/** Wires the ingest service to the event log and the store (Kafka, the schema registry and MongoDB unless embedded), and starts listening. */
export async function startIngest(
  config: IngestConfig,
  logger: Logger = createLogger('ingest', config.logLevel),
  backend: Backend = kafkaBackend(config, loadKafkaValueSchemas()),
): Promise<RunningIngest> {
  const infrastructure = await backend.connect('ingest', logger);
  const { metrics: metricsRegistry, db } = infrastructure;
  const directory = new MongoTenantDirectory(db);
  const hosted = new MongoHostedBadgeObjects(db);
  const reportingSettings = new MongoReportingSettings(db);
  await Promise.all([directory.init(), hosted.init()]);

  const eventLog = infrastructure.eventLog({ producers: config.producers, ...(config.instanceId ? { instanceId: config.instanceId } : {}) });
  await eventLog.connect();

  const inspector = new EnvelopeInspector({
    validator: createSchemaValidator(),
    contexts: new ContextChecker({ ...loadContexts(), ...loadProfileContexts() }),
    limits: { maxDepth: config.maxDepth },
  });

  // The public URL is known before listening only when configured; with port 0 it is decided by listen().
  let publicUrl = config.publicUrl;
  const reports = new IssuerReports(hosted, reportingSettings, () => `${publicUrl}/caliper`);
  const authenticator = new CachedAuthenticator(directory, config.authCacheTtlMs);
  const clientAddress = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';
  let shuttingDown = false;
  const app = createIngestApp({
    service: new IngestService(inspector, eventLog, reports),
    authenticator,
    issuerRoutes: createIssuerRoutes({
      reports,
      hosted,
      settings: reportingSettings,
      directory,
      authenticator,
      logger,
      publicUrl: () => publicUrl,
      registrations: new RateLimiter(config.registrationsPerHour, 3_600_000),
      clientAddress,
      retryAfterSeconds: config.retryAfterSeconds,
    }),
    limits: {
      perToken: new RateLimiter(config.reportsPerMinute),
      perAddress: new RateLimiter(config.reportsPerAddressPerMinute),
      anonymous: new RateLimiter(config.anonymousReportsPerMinute),
    },
    clientAddress,
    trustProxy: config.trustProxy,
    logger,
    metrics: createIngestMetrics(metricsRegistry),
    metricsRegistry,
    isShuttingDown: () => shuttingDown,
    maxPayloadKb: config.maxPayloadKb,
    retryAfterSeconds: config.retryAfterSeconds,
    checkReady: async () => {
      return withTimeout(infrastructure.checkReady(eventLog), 3000, 'readiness checks timed out');
    },
  });

  const server: Server = await bind(app, config.host, config.port);
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  publicUrl ||= url;
  logger.info({ url, ...infrastructure.describe() }, 'ingest listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      logger.info('shutting down: finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
      await eventLog.close();
      await infrastructure.close();
      logger.info('ingest stopped');
    })();
    return closing;
  };
  return { url, port, logger, close };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
