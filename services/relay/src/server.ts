import express from 'express';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import {
  MongoHostedBadgeObjects,
  MongoRelayStore,
  TOPICS,
  addOperationalRoutes,
  kafkaBackend,
  listen,
  createLogger,
  problem,
  sendProblem,
  type DestinationPolicy,
  type Backend,
  type Logger,
} from '@badgestream/platform';
import { BadgeMetadata } from './badge-metadata.js';
import type { RelayConfig } from './config.js';
import { RelayDispatcher, type DeliveryPolicy } from './deliveries.js';
import { RelayIntake } from './intake.js';

export interface RunningRelay {
  url: string;
  port: number;
  logger: Logger;
  /** Stops reading, lets the envelopes in flight finish and be recorded, then disconnects. */
  close(): Promise<void>;
}

export function destinationPolicy(config: RelayConfig): DestinationPolicy {
  return { allowPrivateAddresses: config.allowPrivateAddresses, allowedPrivateHosts: config.allowedPrivateHosts, hint: 'set RELAY_ALLOW_PRIVATE_ADDRESSES=true or list the host:port in RELAY_ALLOWED_PRIVATE_HOSTS to allow it' };
}

export function deliveryPolicy(config: RelayConfig): DeliveryPolicy {
  return {
    timeoutMs: config.deliveryTimeoutMs,
    maxAttempts: config.maxAttempts,
    backoffBaseMs: config.backoffBaseMs,
    backoffMaxMs: config.backoffMaxMs,
    maxEventsPerEnvelope: config.maxEventsPerEnvelope,
    endpointConcurrency: config.endpointConcurrency,
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    pollMs: config.pollMs,
    endpointsRefreshMs: config.endpointsRefreshMs,
    pendingReloadMs: config.pendingReloadMs,
    sensorId: config.sensorId,
    destinations: destinationPolicy(config),
  };
}

/**
 * The relay: a consumer group over caliper.events that records, for each consumer-side badge
 * event about a badge object hosted elsewhere, where its issuer wants it reported; and a
 * dispatcher that delivers those events, durably, to the endpoints the tenant registered.
 */
export async function startRelay(
  config: RelayConfig,
  logger: Logger = createLogger('relay', config.logLevel),
  backend: Backend = kafkaBackend(config, loadKafkaValueSchemas()),
): Promise<RunningRelay> {
  const infrastructure = await backend.connect('relay', logger);
  const { metrics, db } = infrastructure;
  const store = new MongoRelayStore(db);
  const hosted = new MongoHostedBadgeObjects(db);
  await Promise.all([store.init(), hosted.init()]);
  const metadata = new BadgeMetadata({ timeoutMs: config.fetchTimeoutMs, maxBytes: config.fetchMaxBytes, cacheTtlMs: config.cacheTtlMs, cacheMaxEntries: config.cacheMaxEntries, destinations: destinationPolicy(config) });
  const dispatcher = new RelayDispatcher({ store, metadata, policy: deliveryPolicy(config), logger, metrics });
  const intake = new RelayIntake({ store, hosted, metadata, dispatcher, logger, metrics, ownCacheTtlMs: config.cacheTtlMs });
  const runner = infrastructure.consumer({
    groupId: config.groupId,
    topics: [TOPICS.events],
    deadLetterTopic: TOPICS.eventsDeadLetters,
    concurrency: config.concurrency,
    sessionTimeoutMs: config.sessionTimeoutMs,
    handleBatch: (records) => intake.handleBatch(records),
    onAssignment: (assignment) => dispatcher.assign([...(assignment.partitions.get(TOPICS.events) ?? [])]),
  });

  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  addOperationalRoutes(app, {
    metrics,
    isShuttingDown: () => shuttingDown,
    checkReady: () => infrastructure.checkReady(),
  });
  app.use((req, res) => sendProblem(res, problem(404, 'not-found', `No route for ${req.method} ${req.path}`)));

  dispatcher.start();
  await runner.start();
  const { port, url, close } = await listen(app, config.host, config.port);
  logger.info({ url, group: config.groupId, ...infrastructure.describe() }, 'relay running');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    logger,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        await runner.stop();
        await dispatcher.stop();
        await close();
        await infrastructure.close();
        logger.info('relay stopped');
      })()),
  };
}
