import { commonOptions, loadConfig, parse, type ConfigOf } from '@badgestream/platform';

export const relayOptions = {
  ...commonOptions,
  host: { env: 'RELAY_HOST', description: 'address the relay HTTP server binds (/healthz, /readyz, /metrics)', default: '127.0.0.1', parse: parse.string },
  port: { env: 'RELAY_PORT', description: 'port of the relay HTTP server', default: 8083, parse: parse.integer(0, 65535) },
  groupId: { env: 'RELAY_GROUP_ID', description: 'Kafka consumer group of the relay; instances in one group share the partitions, and each delivers the events of its partitions', default: 'badgestream-relay', parse: parse.string },
  concurrency: { env: 'RELAY_PARTITIONS_CONCURRENTLY', description: 'partitions one instance reads at once', default: 2, parse: parse.integer(1, 64) },
  sessionTimeoutMs: {
    env: 'RELAY_SESSION_TIMEOUT_MS',
    description: 'how long the group waits for an instance that stopped heartbeating before moving its partitions (broker minimum 6000)',
    default: 10_000,
    parse: parse.integer(1000, 300_000),
  },
  fetchTimeoutMs: { env: 'RELAY_FETCH_TIMEOUT_MS', description: 'how long fetching one badge object may take before it counts as failed (tried again later)', default: 5000, parse: parse.integer(100, 120_000) },
  fetchMaxBytes: { env: 'RELAY_FETCH_MAX_BYTES', description: 'largest badge object fetched; a larger one is refused', default: 262_144, parse: parse.integer(1024, 16 * 1024 * 1024) },
  cacheTtlMs: { env: 'RELAY_CACHE_TTL_MS', description: 'how long a fetched badge object (and what it advertises), and whether a tenant hosts a badge object, are reused before they are read again', default: 300_000, parse: parse.integer(0, 86_400_000) },
  cacheMaxEntries: { env: 'RELAY_CACHE_MAX_ENTRIES', description: 'badge objects kept in the cache', default: 10_000, parse: parse.integer(1, 10_000_000) },
  deliveryTimeoutMs: { env: 'RELAY_DELIVERY_TIMEOUT_MS', description: 'how long one POST to an issuer endpoint may take, connection to answer, before it counts as failed and is retried', default: 10_000, parse: parse.integer(100, 300_000) },
  maxAttempts: { env: 'RELAY_MAX_ATTEMPTS', description: 'delivery attempts of an event before it becomes a dead letter', default: 10, parse: parse.integer(1, 1000) },
  backoffBaseMs: { env: 'RELAY_BACKOFF_BASE_MS', description: 'backoff before the 2nd attempt; it doubles after each failure (full jitter: the wait is drawn between 0 and that)', default: 1000, parse: parse.integer(1, 3_600_000) },
  backoffMaxMs: { env: 'RELAY_BACKOFF_MAX_MS', description: 'longest wait between attempts, Retry-After included', default: 600_000, parse: parse.integer(1, 86_400_000) },
  maxEventsPerEnvelope: { env: 'RELAY_MAX_EVENTS_PER_ENVELOPE', description: 'events POSTed together in one Caliper envelope to one endpoint', default: 50, parse: parse.integer(1, 1000) },
  endpointConcurrency: { env: 'RELAY_ENDPOINT_CONCURRENCY', description: 'envelopes in flight at once to one endpoint', default: 4, parse: parse.integer(1, 64) },
  breakerFailures: { env: 'RELAY_BREAKER_FAILURES', description: 'consecutive failed envelopes to an endpoint that open its circuit breaker (no attempts while open)', default: 5, parse: parse.integer(1, 1000) },
  breakerCooldownMs: { env: 'RELAY_BREAKER_COOLDOWN_MS', description: 'how long an open breaker waits before one trial envelope (a success closes it, a failure opens it again)', default: 30_000, parse: parse.integer(10, 3_600_000) },
  pollMs: { env: 'RELAY_POLL_MS', description: 'how often the relay looks for deliveries that are due when nothing wakes it', default: 200, parse: parse.integer(10, 60_000) },
  endpointsRefreshMs: { env: 'RELAY_ENDPOINTS_REFRESH_MS', description: 'how often the registered endpoints and their credentials are reloaded from MongoDB', default: 5000, parse: parse.integer(100, 3_600_000) },
  pendingReloadMs: {
    env: 'RELAY_PENDING_RELOAD_MS',
    description: 'how often an instance looks for pending events of its partitions that it does not hold (dead letters put back with badgestream relay retry)',
    default: 10_000,
    parse: parse.integer(100, 3_600_000),
  },
  sensorId: { env: 'RELAY_SENSOR_ID', description: 'the sensor IRI of the envelopes the relay POSTs', default: 'https://w3id.org/badgestream/relay', parse: parse.string },
  allowPrivateAddresses: {
    env: 'RELAY_ALLOW_PRIVATE_ADDRESSES',
    description: 'fetch badge objects from, and deliver to, loopback, private and link-local addresses; refused by default',
    default: false,
    parse: parse.boolean,
  },
  allowedPrivateHosts: {
    env: 'RELAY_ALLOWED_PRIVATE_HOSTS',
    description: 'host:port pairs allowed although private (a local issuer, tests), comma-separated; every other private address stays refused',
    default: [] as string[],
    defaultLabel: 'none',
    parse: parse.list,
  },
  createTopics: { env: 'KAFKA_CREATE_TOPICS', description: 'create missing topics at start', default: true, parse: parse.boolean },
};

export type RelayConfig = ConfigOf<typeof relayOptions>;

export function loadRelayConfig(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  return loadConfig(relayOptions, env);
}
