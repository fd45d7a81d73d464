import express from 'express';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import {
  CachedAuthenticator,
  ConsumerRunner,
  KafkaEventLog,
  MongoCriteriaDefinitions,
  MongoIssuerSettings,
  MongoEventHistory,
  MongoLearnerProgress,
  MongoOutbox,
  MongoTenantDirectory,
  TOPICS,
  addOperationalRoutes,
  connectInfrastructure,
  listen,
  partitionCount,
  createLogger,
  problem,
  sendProblem,
  type Logger,
} from '@badgestream/platform';
import { CachedActiveCriteria } from './active-criteria.js';
import { createCriteriaAdminRouter } from './admin-app.js';
import type { CriteriaConfig } from './config.js';
import { OutboxDispatcher, webhookPolicy } from './dispatcher.js';
import { createIssuerRouter } from './issuer-routes.js';
import { dryRunCriteria } from './dry-run.js';
import { CriteriaProcessor } from './processor.js';
import { createProgressRouter } from './progress-routes.js';

export interface RunningCriteria {
  url: string;
  port: number;
  logger: Logger;
  close(): Promise<void>;
}

/**
 * The criteria service: a consumer group over caliper.events that tracks each learner's
 * progress in MongoDB and writes awards and revocations to an outbox; a dispatcher that
 * publishes them as BadgeEvents; and an HTTP API for criteria administration and progress.
 */
export async function startCriteria(config: CriteriaConfig, baseLogger: Logger = createLogger('criteria', config.logLevel)): Promise<RunningCriteria> {
  const logger = config.instanceId ? baseLogger.child({ instance: config.instanceId }) : baseLogger;
  const { metrics, kafka, registry, valueSchemaIds, mongo } = await connectInfrastructure({ service: 'criteria', config, logger, valueSchemas: loadKafkaValueSchemas() });
  const directory = new MongoTenantDirectory(mongo.db);
  const definitions = new MongoCriteriaDefinitions(mongo.db);
  const progress = new MongoLearnerProgress(mongo.db, config.groupId, await partitionCount(kafka, TOPICS.events));
  const outbox = new MongoOutbox(mongo.db);
  const history = new MongoEventHistory(mongo.db);
  const issuers = new MongoIssuerSettings(mongo.db);
  await Promise.all([directory.init(), definitions.init(), progress.init(), outbox.init(), history.init()]);

  // Not atomic: each entry's events go to one partition (its learner's key), so they are one
  // record batch anyway, and a failed send is retried under the same event ids.
  const eventLog = new KafkaEventLog({ kafka, valueSchemaIds, logger, metrics, producers: 1, atomic: false });
  await eventLog.connect();
  const dispatcher = new OutboxDispatcher({ outbox, issuers, eventLog, logger, metrics, pollMs: config.dispatcherPollMs, webhook: webhookPolicy(config) });

  const active = new CachedActiveCriteria(async () => (await definitions.activeForAllTenants()).map((d) => ({ tenant: d.tenant, criteria: d.criteria })), config.criteriaRefreshMs);
  const processor = new CriteriaProcessor({ criteria: active, progress, outbox, history, topic: TOPICS.events, logger, metrics, onStored: (entries) => dispatcher.offer(entries) });
  const runner = new ConsumerRunner({
    kafka,
    registry,
    groupId: config.groupId,
    topics: [TOPICS.events],
    deadLetterTopic: TOPICS.eventsDeadLetters,
    logger,
    metrics,
    concurrency: config.concurrency,
    maxRecordsPerCommit: config.maxRecordsPerSlice,
    sessionTimeoutMs: config.sessionTimeoutMs,
    onAssignment: processor.onAssignment,
    handleBatch: async (records) => {
      const poisoned = await processor.handleBatch(records);
      dispatcher.nudge();
      return poisoned;
    },
  });

  const authenticator = new CachedAuthenticator(directory, config.authCacheTtlMs);
  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  addOperationalRoutes(app, {
    metrics,
    isShuttingDown: () => shuttingDown,
    checkReady: async () => {
      await Promise.all([eventLog.checkReady(), mongo.checkReady()]);
      return { kafka: 'ok', mongodb: 'ok' };
    },
  });
  app.use('/admin', createCriteriaAdminRouter({ definitions, authenticator, logger, onChange: () => active.invalidate(), dryRun: (tenant, badgeClass, version) => dryRunCriteria({ definitions, history, progress }, tenant, badgeClass, version) }).use(createIssuerRouter({ issuers, outbox, logger })));
  app.use(
    createProgressRouter({
      progress,
      outbox,
      authenticator,
      criteriaOf: async (tenant, badgeClass, version) => (await definitions.get(tenant, badgeClass, version))?.criteria,
    }),
  );
  app.use((req, res) => sendProblem(res, problem(404, 'not-found', `No route for ${req.method} ${req.path}`)));

  await runner.start();
  dispatcher.start();
  // Progress is written to MongoDB in the background; the history makes up for what a crash loses.
  // Activations are applied to idle partitions too.
  let ticking: Promise<void> | undefined;
  const flusher = setInterval(() => {
    ticking ??= processor
      .flush()
      .then(() => (shuttingDown ? undefined : processor.refresh()))
      .catch((error: unknown) => logger.error({ err: error }, 'progress refresh or flush failed'))
      .finally(() => (ticking = undefined));
  }, config.flushMs);
  const { port, url, close } = await listen(app, config.host, config.port);
  logger.info({ url, group: config.groupId }, 'criteria consumer and API running');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    logger,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        clearInterval(flusher);
        await runner.stop();
        await ticking;
        await processor.flushAllNow();
        await dispatcher.stop();
        await close();
        await eventLog.close();
        await mongo.close();
        logger.info('criteria stopped');
      })()),
  };
}
