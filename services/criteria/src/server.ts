import express from 'express';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import {
  CachedAuthenticator,
  MongoCriteriaDefinitions,
  MongoIssuerSettings,
  MongoEventHistory,
  MongoLearnerProgress,
  MongoOutbox,
  MongoTenantDirectory,
  TOPICS,
  addOperationalRoutes,
  kafkaBackend,
  listen,
  createLogger,
  problem,
  sendProblem,
  type Backend,
  type Logger,
} from '@badgestream/platform';
import { CachedActiveCriteria } from './active-criteria.js';
import { createCriteriaAdminRouter } from './admin-app.js';
import { openBackfillProgress } from './backfill-progress.js';
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
export async function startCriteria(
  config: CriteriaConfig,
  baseLogger: Logger = createLogger('criteria', config.logLevel),
  backend: Backend = kafkaBackend(config, loadKafkaValueSchemas()),
): Promise<RunningCriteria> {
  const logger = config.instanceId ? baseLogger.child({ instance: config.instanceId }) : baseLogger;
  const infrastructure = await backend.connect('criteria', logger);
  const { metrics, db } = infrastructure;
  const directory = new MongoTenantDirectory(db);
  const definitions = new MongoCriteriaDefinitions(db);
  const progress = new MongoLearnerProgress(db, config.groupId, await infrastructure.partitionCount(TOPICS.events));
  const outbox = new MongoOutbox(db);
  const history = new MongoEventHistory(db);
  const issuers = new MongoIssuerSettings(db);
  await Promise.all([directory.init(), definitions.init(), progress.init(), outbox.init(), history.init()]);
  const backfills = await openBackfillProgress({ db, group: config.groupId, partitions: await infrastructure.partitionCount(TOPICS.events), definitions, history, logger });

  // Not atomic: each entry's events go to one partition (its learner's key), so they are one
  // record batch anyway, and a failed send is retried under the same event ids.
  const eventLog = infrastructure.eventLog({ producers: 1, atomic: false });
  await eventLog.connect();
  const dispatcher = new OutboxDispatcher({ outbox, issuers, eventLog, logger, metrics, pollMs: config.dispatcherPollMs, webhook: webhookPolicy(config) });

  const active = new CachedActiveCriteria(async () => (await definitions.activeForAllTenants()).map((d) => ({ tenant: d.tenant, criteria: d.criteria })), config.criteriaRefreshMs);
  const processor = new CriteriaProcessor({ criteria: active, progress, outbox, history, topic: TOPICS.events, logger, metrics, onStored: (entries) => dispatcher.offer(entries), backfills: backfills.recorder });
  const runner = infrastructure.consumer({
    groupId: config.groupId,
    topics: [TOPICS.events],
    deadLetterTopic: TOPICS.eventsDeadLetters,
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
    checkReady: () => infrastructure.checkReady(eventLog),
  });
  app.use('/admin', createCriteriaAdminRouter({ definitions, authenticator, logger, onChange: () => active.invalidate(), dryRun: (tenant, badgeClass, version) => dryRunCriteria({ definitions, history, progress }, tenant, badgeClass, version), backfillStatus: backfills.status }).use(createIssuerRouter({ issuers, outbox, logger })));
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
  logger.info({ url, group: config.groupId, ...infrastructure.describe() }, 'criteria consumer and API running');

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
        await infrastructure.close();
        logger.info('criteria stopped');
      })()),
  };
}
