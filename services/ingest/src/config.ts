import { commonOptions, loadConfig, parse, type ConfigOf } from '@badgestream/platform';

export const ingestOptions = {
  ...commonOptions,
  host: { env: 'INGEST_HOST', description: 'address the ingest HTTP server binds', default: '127.0.0.1', parse: parse.string },
  port: { env: 'INGEST_PORT', description: 'port of the ingest HTTP server (POST/GET /caliper, /healthz, /readyz, /metrics)', default: 8080, parse: parse.integer(0, 65535) },
  maxPayloadKb: {
    env: 'INGEST_MAX_PAYLOAD_KB',
    description: 'largest accepted request body in KiB (announced as caliperMaximumPayloadSize); larger bodies get 413',
    default: 1024,
    parse: parse.integer(1, 64 * 1024),
  },
  maxDepth: { env: 'INGEST_MAX_DEPTH', description: 'deepest accepted JSON nesting; deeper bodies get 400', default: 32, parse: parse.integer(4, 256) },
  authCacheTtlMs: {
    env: 'INGEST_AUTH_CACHE_TTL_MS',
    description: 'how long a token lookup is cached; a revoked key stops working within this time (0 disables the cache)',
    default: 5000,
    parse: parse.integer(0, 3_600_000),
  },
  producers: { env: 'INGEST_PRODUCERS', description: 'parallel transactional Kafka producers', default: 2, parse: parse.integer(1, 32) },
  instanceId: {
    env: 'INGEST_INSTANCE_ID',
    description: 'unique id of this ingest instance, used in Kafka transactional ids; a stable one (pod name) lets a restart fence its predecessor at once',
    default: '',
    defaultLabel: 'hostname-pid',
    parse: parse.string,
  },
  retryAfterSeconds: { env: 'INGEST_RETRY_AFTER_SECONDS', description: 'Retry-After sent with 503 when Kafka is unreachable', default: 5, parse: parse.integer(1, 3600) },
  shutdownTimeoutMs: {
    env: 'INGEST_SHUTDOWN_TIMEOUT_MS',
    description: 'on SIGTERM, how long in-flight requests may take to finish before connections are closed',
    default: 10_000,
    parse: parse.integer(0, 600_000),
  },
  publicUrl: {
    env: 'INGEST_PUBLIC_URL',
    description: 'base URL consumers reach this deployment at: badge objects advertise <this>/caliper in ims:TBAcaliperApi, and /hosted/… objects have IRIs under it',
    default: '',
    defaultLabel: 'http://INGEST_HOST:INGEST_PORT',
    parse: parse.url,
  },
  reportsPerMinute: { env: 'INGEST_REPORTS_PER_MINUTE', description: 'envelopes one consumer token may post per minute (bursts up to this many); more get 429', default: 600, parse: parse.integer(1, 1_000_000) },
  reportsPerAddressPerMinute: {
    env: 'INGEST_REPORTS_PER_ADDRESS_PER_MINUTE',
    description: 'envelopes posted with consumer tokens from one client address per minute, all tokens together; more get 429',
    default: 1200,
    parse: parse.integer(1, 1_000_000),
  },
  anonymousReportsPerMinute: {
    env: 'INGEST_ANONYMOUS_REPORTS_PER_MINUTE',
    description: 'anonymous reports (no token; Verified and Accessed, where the issuer allows them) one client address may post per minute; more get 429',
    default: 30,
    parse: parse.integer(1, 1_000_000),
  },
  registrationsPerHour: { env: 'INGEST_CONSUMER_REGISTRATIONS_PER_HOUR', description: 'consumer registrations (POST /caliper/consumers) one client address may make per hour; more get 429', default: 10, parse: parse.integer(1, 1_000_000) },
  trustProxy: {
    env: 'INGEST_TRUST_PROXY',
    description: 'take the client address for rate limits from X-Forwarded-For (behind a reverse proxy you run); otherwise the connection\'s address',
    default: false,
    parse: parse.boolean,
  },
  createTopics: { env: 'KAFKA_CREATE_TOPICS', description: 'create missing topics at start', default: true, parse: parse.boolean },
};

export type IngestConfig = ConfigOf<typeof ingestOptions>;

export function loadIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return loadConfig(ingestOptions, env);
}
