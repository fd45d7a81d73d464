import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { EmbeddedBackend, MongoTenantDirectory, createLogger, embeddedOptions, loadConfig, modeOf, SCOPES, type Logger, type Mode } from '@badgestream/platform';
import { loadIngestConfig, startIngest } from '@badgestream/ingest';
import { loadCriteriaConfig, startCriteria } from '@badgestream/criteria-service';
import { loadRelayConfig, startRelay } from '@badgestream/relay';
import { loadReportingConfig, startReporting } from '@badgestream/reporting';

export interface RunningBadgestream {
  mode: Mode;
  /** The embedded data directory; undefined on Kafka and MongoDB. */
  dataDir?: string;
  urls: { ingest: string; criteria: string; reporting: string; relay: string };
  /** The embedded backend, for commands that work on its store while it runs (demo). */
  embedded?: EmbeddedBackend;
  logger: Logger;
  close(): Promise<void>;
}

/**
 * Every service in this process: ingest, criteria, reporting and relay, on the embedded log and
 * store (when neither KAFKA_BROKERS nor MONGODB_URI is set) or on Kafka and MongoDB. The
 * services are the ones `serve <service>` runs, with the same APIs and ports.
 */
export async function startBadgestream(env: NodeJS.ProcessEnv = process.env): Promise<RunningBadgestream> {
  const mode = modeOf(env);
  const ingestConfig = loadIngestConfig(env);
  const criteriaConfig = loadCriteriaConfig(env);
  const reportingConfig = loadReportingConfig(env);
  const relayConfig = loadRelayConfig(env);
  const logger = createLogger('badgestream', ingestConfig.logLevel);
  const embedded = mode === 'embedded' ? openEmbedded(env, ingestConfig.topicPartitions) : undefined;
  const started: { close(): Promise<void> }[] = [];
  try {
    // Consumers first, ingest last: by the time events are accepted, everything that reads them runs.
    // Without the embedded backend, each service takes its default: Kafka and MongoDB of its configuration.
    const criteria = await startCriteria(criteriaConfig, createLogger('criteria', criteriaConfig.logLevel), embedded);
    started.push(criteria);
    const reporting = await startReporting(reportingConfig, createLogger('reporting', reportingConfig.logLevel), embedded);
    started.push(reporting);
    const relay = await startRelay(relayConfig, createLogger('relay', relayConfig.logLevel), embedded);
    started.push(relay);
    const ingest = await startIngest(ingestConfig, createLogger('ingest', ingestConfig.logLevel), embedded);
    started.push(ingest);
    let closing: Promise<void> | undefined;
    return {
      mode,
      ...(embedded ? { dataDir: embedded.directory, embedded } : {}),
      urls: {
        ingest: ingest.url,
        criteria: criteria.url,
        reporting: reporting.url,
        relay: relay.url,
      },
      logger,
      close: () =>
        (closing ??= (async () => {
          for (const service of started.reverse()) await service.close();
          await embedded?.close();
        })()),
    };
  } catch (error) {
    for (const service of started.reverse()) await service.close().catch(() => undefined);
    await embedded?.close();
    throw error;
  }
}

export function openEmbedded(env: NodeJS.ProcessEnv, partitions: number): EmbeddedBackend {
  const { dataDir, fsync } = loadConfig(embeddedOptions, env);
  return EmbeddedBackend.open({
    dataDir,
    fsync,
    partitions,
    valueSchemas: loadKafkaValueSchemas(),
  });
}

const FIRST_TENANT = 'local';
const KEYS_FILE = 'first-keys.txt';

/**
 * On the first start of an empty embedded data directory: a tenant `local` with a key of each
 * scope, so there is something to post and read with right away. The tokens are shown once here
 * and kept, readable by the owner only, in the data directory.
 */
export async function bootstrapEmbedded(running: RunningBadgestream): Promise<string | undefined> {
  if (!running.embedded) return undefined;
  const file = join(running.embedded.directory, KEYS_FILE);
  const directory = new MongoTenantDirectory(running.embedded.store.db());
  await directory.init();
  if ((await directory.listTenants()).length > 0) return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  await directory.createTenant(FIRST_TENANT);
  const lines = [`# The keys of tenant ${FIRST_TENANT}, made at the first start of this data directory (tokens are stored hashed: this file is their only copy).`];
  for (const scope of SCOPES) lines.push(`${scope.padEnd(8)} ${(await directory.createKey(FIRST_TENANT, scope, 'first start')).token}`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8');
}

/** What the process is, where its data is, where to reach it and how to move to Kafka and MongoDB. */
export function banner(running: RunningBadgestream, keys: string | undefined, options: { suggestDemo?: boolean } = {}): string {
  const { urls } = running;
  const lines =
    running.mode === 'embedded'
      ? [
          'Badgestream is running in the embedded mode: every service in this one process, no Kafka, no MongoDB.',
          `  data       ${running.dataDir}  (journalled event log and documents; survives restarts, also kill -9)`,
        ]
      : ['Badgestream is running on Kafka and MongoDB: every service in this one process.'];
  lines.push(
    `  ingest     ${urls.ingest}/caliper    Caliper Sensor API: POST envelopes with a sensor key`,
    `  reporting  ${urls.reporting}/            issuer page; reporting API at /reports/*, described at /openapi.json`,
    `  criteria   ${urls.criteria}/admin/criteria  criteria administration and learner progress`,
    `  relay      ${urls.relay}/healthz     forwards verifications and shares to issuers`,
    '  each also serves /healthz, /readyz and /metrics',
  );
  if (keys)
    lines.push(
      '',
      ...keys
        .trim()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  if (running.mode === 'embedded') {
    if (options.suggestDemo ?? true) lines.push('', 'See the whole loop with sample data, in a data directory of its own: npm run demo (badgestream demo)');
    lines.push(
      '',
      'Move to Kafka and MongoDB (many processes, scaling by consumer group): set KAFKA_BROKERS, SCHEMA_REGISTRY_URL and',
      'MONGODB_URI, then run the same command, or one `badgestream serve <service>` per process (README: Running on Kafka and MongoDB).',
      'The embedded mode is for trying Badgestream on one machine; it does not scale out.',
    );
  }
  return lines.join('\n');
}
