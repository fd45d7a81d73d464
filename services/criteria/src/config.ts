import { commonOptions, loadConfig, parse, type ConfigOf } from '@badgestream/platform';

export const criteriaOptions = {
  ...commonOptions,
  host: { env: 'CRITERIA_HOST', description: 'address the criteria HTTP server binds (admin API, progress, /healthz, /readyz, /metrics)', default: '127.0.0.1', parse: parse.string },
  port: { env: 'CRITERIA_PORT', description: 'port of the criteria HTTP server', default: 8082, parse: parse.integer(0, 65535) },
  groupId: { env: 'CRITERIA_GROUP_ID', description: 'Kafka consumer group of the criteria consumers; instances in one group share the partitions', default: 'badgestream-criteria', parse: parse.string },
  concurrency: { env: 'CRITERIA_PARTITIONS_CONCURRENTLY', description: 'partitions one instance processes at once (each has its own state, so they never wait for each other)', default: 6, parse: parse.integer(1, 64) },
  maxRecordsPerSlice: {
    env: 'CRITERIA_MAX_RECORDS_PER_SLICE',
    description: 'most records handled and committed together: larger slices write fewer, larger history chunks; smaller ones redo less after a crash',
    default: 500,
    parse: parse.integer(1, 10_000),
  },
  sessionTimeoutMs: {
    env: 'CRITERIA_SESSION_TIMEOUT_MS',
    description: 'how long the group waits for an instance that stopped heartbeating before moving its partitions (broker minimum 6000)',
    default: 10_000,
    parse: parse.integer(1000, 300_000),
  },
  flushMs: {
    env: 'CRITERIA_FLUSH_MS',
    description:
      'how often the progress held in memory is written to MongoDB (GET /progress and dry runs read it; a restarted instance applies the event history after the last write)',
    default: 1000,
    parse: parse.integer(50, 600_000),
  },
  criteriaRefreshMs: { env: 'CRITERIA_REFRESH_MS', description: 'how often active criteria are reloaded from MongoDB', default: 5000, parse: parse.integer(100, 3_600_000) },
  authCacheTtlMs: { env: 'CRITERIA_AUTH_CACHE_TTL_MS', description: 'how long a token lookup is cached', default: 5000, parse: parse.integer(0, 3_600_000) },
  instanceId: { env: 'CRITERIA_INSTANCE_ID', description: 'name of this instance in its log lines (field `instance`), e.g. the pod name', default: '', defaultLabel: 'none', parse: parse.string },
  dispatcherPollMs: { env: 'CRITERIA_DISPATCHER_POLL_MS', description: 'how often the outbox dispatcher looks for due deliveries when it is idle (new effects wake it at once)', default: 1000, parse: parse.integer(10, 60_000) },
  webhookTimeoutMs: { env: 'CRITERIA_WEBHOOK_TIMEOUT_MS', description: 'how long one webhook delivery may take, connection to answer, before it counts as failed and is retried', default: 10_000, parse: parse.integer(100, 300_000) },
  webhookMaxAttempts: { env: 'CRITERIA_WEBHOOK_MAX_ATTEMPTS', description: 'webhook attempts before a delivery is given up (status failed, kept for an operator to retry)', default: 12, parse: parse.integer(1, 100) },
  webhookBackoffBaseMs: { env: 'CRITERIA_WEBHOOK_BACKOFF_BASE_MS', description: 'backoff before the 2nd webhook attempt; it doubles after each failure (full jitter: the wait is drawn between 0 and that)', default: 1000, parse: parse.integer(1, 3_600_000) },
  webhookBackoffMaxMs: { env: 'CRITERIA_WEBHOOK_BACKOFF_MAX_MS', description: 'longest wait between webhook attempts, Retry-After included', default: 3_600_000, parse: parse.integer(1, 86_400_000) },
  webhookConcurrency: { env: 'CRITERIA_WEBHOOK_CONCURRENCY', description: 'webhook deliveries one instance has in flight at once', default: 8, parse: parse.integer(1, 256) },
  webhookAllowPrivateAddresses: {
    env: 'CRITERIA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES',
    description: 'deliver webhooks to loopback, private and link-local addresses (an issuer on the same network); refused by default',
    default: false,
    parse: parse.boolean,
  },
  createTopics: { env: 'KAFKA_CREATE_TOPICS', description: 'create missing topics at start', default: true, parse: parse.boolean },
};

export type CriteriaConfig = ConfigOf<typeof criteriaOptions>;

export function loadCriteriaConfig(env: NodeJS.ProcessEnv = process.env): CriteriaConfig {
  return loadConfig(criteriaOptions, env);
}
