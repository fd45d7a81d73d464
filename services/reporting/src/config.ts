import { commonOptions, loadConfig, parse, type ConfigOf } from '@badgestream/platform';

export const reportingOptions = {
  ...commonOptions,
  host: { env: 'REPORTING_HOST', description: 'address the reporting HTTP server binds (reports, exports, /openapi.json, /healthz, /readyz, /metrics)', default: '127.0.0.1', parse: parse.string },
  port: { env: 'REPORTING_PORT', description: 'port of the reporting HTTP server', default: 8084, parse: parse.integer(0, 65535) },
  groupId: { env: 'REPORTING_GROUP_ID', description: 'Kafka consumer group of the rollup consumers; its rollups are kept apart from any other group', default: 'badgestream-metrics', parse: parse.string },
  concurrency: { env: 'REPORTING_PARTITIONS_CONCURRENTLY', description: 'partitions one instance counts at once', default: 2, parse: parse.integer(1, 64) },
  sessionTimeoutMs: {
    env: 'REPORTING_SESSION_TIMEOUT_MS',
    description: 'how long the group waits for an instance that stopped heartbeating before moving its partitions (broker minimum 6000); slices of thousands of records on a busy machine need more than the other consumers',
    default: 30_000,
    parse: parse.integer(1000, 300_000),
  },
  sliceRecords: { env: 'REPORTING_SLICE_RECORDS', description: 'most records counted and written as one slice (one commit); larger slices mean fewer writes', default: 5000, parse: parse.integer(1, 100_000) },
  fetchBytes: { env: 'REPORTING_FETCH_BYTES', description: 'largest fetch from one partition, in bytes (bounds the slice size in practice)', default: 1_048_576, parse: parse.integer(65_536, 104_857_600) },
  duplicateWindowHours: {
    env: 'REPORTING_DUPLICATE_WINDOW_HOURS',
    description: 'how long after an event was received a copy of it (same id, at a new offset) is still recognised and not counted',
    default: 168,
    parse: parse.integer(1, 24 * 366),
  },
  refreshMs: { env: 'REPORTING_REFRESH_MS', description: 'how often the view reads the slices other instances of the group wrote', default: 1000, parse: parse.integer(50, 600_000) },
  authCacheTtlMs: { env: 'REPORTING_AUTH_CACHE_TTL_MS', description: 'how long a token lookup is cached', default: 5000, parse: parse.integer(0, 3_600_000) },
  lrsEndpoint: { env: 'REPORTING_LRS_ENDPOINT', description: 'xAPI endpoint of a learning record store to push badge events to as statements (…/statements is appended); empty: no push', default: '', defaultLabel: 'none', parse: parse.url },
  lrsTenant: { env: 'REPORTING_LRS_TENANT', description: 'the tenant whose badge events are pushed to REPORTING_LRS_ENDPOINT', default: '', defaultLabel: 'none', parse: parse.string },
  lrsAuthorization: { env: 'REPORTING_LRS_AUTHORIZATION', description: 'Authorization header sent to the LRS (e.g. Basic …)', default: '', defaultLabel: 'none', parse: parse.string, secret: true },
  lrsBatch: { env: 'REPORTING_LRS_BATCH', description: 'statements POSTed to the LRS in one request', default: 200, parse: parse.integer(1, 5000) },
  lrsTimeoutMs: { env: 'REPORTING_LRS_TIMEOUT_MS', description: 'how long one POST to the LRS may take before it counts as failed and is retried', default: 10_000, parse: parse.integer(100, 300_000) },
  lrsBackoffBaseMs: { env: 'REPORTING_LRS_BACKOFF_BASE_MS', description: 'backoff before the 2nd attempt of a batch; it doubles after each failure (full jitter)', default: 1000, parse: parse.integer(1, 3_600_000) },
  lrsBackoffMaxMs: { env: 'REPORTING_LRS_BACKOFF_MAX_MS', description: 'longest wait between attempts of a batch, Retry-After included', default: 300_000, parse: parse.integer(1, 86_400_000) },
  lrsAllowPrivateAddresses: { env: 'REPORTING_LRS_ALLOW_PRIVATE_ADDRESSES', description: 'push to an LRS at a loopback, private or link-local address (one on the same network); refused by default', default: false, parse: parse.boolean },
  createTopics: { env: 'KAFKA_CREATE_TOPICS', description: 'create missing topics at start', default: true, parse: parse.boolean },
};

export type ReportingConfig = ConfigOf<typeof reportingOptions>;

export function loadReportingConfig(env: NodeJS.ProcessEnv = process.env): ReportingConfig {
  return loadConfig(reportingOptions, env);
}
