import { ConfigError } from './errors.js';

/**
 * One config loader for every service: each option is declared once with its
 * environment variable, default and description, validated at start, and the
 * same declarations print the documentation (`badgestream config`, --help).
 */
export interface OptionSpec<T> {
  env: string;
  description: string;
  /** Undefined means required. */
  default?: T;
  parse: (raw: string) => T;
  /** How the default is shown in documentation, when it differs from String(default). */
  defaultLabel?: string;
  secret?: boolean;
}

export type ConfigSpec = Record<string, OptionSpec<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

export function loadConfig<S extends ConfigSpec>(spec: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(spec)) {
    const raw = env[option.env];
    if (raw === undefined || raw === '') {
      if (option.default === undefined) problems.push(`${option.env} is required: ${option.description}`);
      else config[key] = option.default;
      continue;
    }
    try {
      config[key] = option.parse(raw);
    } catch (error) {
      const shown = option.secret ? '(hidden)' : JSON.stringify(raw);
      problems.push(`${option.env}=${shown}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as ConfigOf<S>;
}

/** A plain-text table of the options, for --help and the README. */
export function describeConfig(spec: ConfigSpec): string {
  return Object.values(spec)
    .map((o) => {
      const shownDefault = o.defaultLabel ?? (o.default === undefined ? '(required)' : `default ${formatDefault(o.default)}`);
      return `  ${o.env.padEnd(30)} ${o.description} [${shownDefault}]`;
    })
    .join('\n');
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

export const parse = {
  string: (raw: string): string => raw,
  integer:
    (min: number, max: number) =>
    (raw: string): number => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer');
      const n = Number(raw);
      if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
      return n;
    },
  boolean: (raw: string): boolean => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new Error('must be true or false');
  },
  list: (raw: string): string[] =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  url: (raw: string): string => {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('must be an http(s) URL');
    return raw.replace(/\/+$/, '');
  },
  mongoUri: (raw: string): string => {
    if (!/^mongodb(\+srv)?:\/\//.test(raw)) throw new Error('must start with mongodb:// or mongodb+srv://');
    return raw;
  },
  oneOf:
    <T extends string>(...values: readonly T[]) =>
    (raw: string): T => {
      if (!values.includes(raw as T)) throw new Error(`must be one of ${values.join(', ')}`);
      return raw as T;
    },
};

/** Options every Badgestream process shares. */
export const commonOptions = {
  logLevel: {
    env: 'LOG_LEVEL',
    description: 'pino log level',
    default: 'info',
    parse: parse.oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    description: 'Kafka bootstrap servers, comma-separated host:port',
    default: ['127.0.0.1:9092'],
    parse: parse.list,
  },
  kafkaClientId: {
    env: 'KAFKA_CLIENT_ID',
    description: 'Kafka client id (shows in broker logs and quotas)',
    default: 'badgestream',
    parse: parse.string,
  },
  schemaRegistryUrl: {
    env: 'SCHEMA_REGISTRY_URL',
    description: 'Confluent-compatible schema registry base URL (Apicurio: …/apis/ccompat/v7)',
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    parse: parse.url,
  },
  mongodbUri: {
    env: 'MONGODB_URI',
    description: 'MongoDB connection string; the database name in the path is used',
    default: 'mongodb://127.0.0.1:27017/badgestream',
    parse: parse.mongoUri,
    secret: true,
  },
  topicPartitions: {
    env: 'KAFKA_TOPIC_PARTITIONS',
    description: 'partitions of caliper.events when Badgestream creates it (bounds consumer parallelism)',
    default: 6,
    parse: parse.integer(1, 10_000),
  },
  topicReplicationFactor: {
    env: 'KAFKA_REPLICATION_FACTOR',
    description: 'replication factor of topics Badgestream creates; -1 takes the broker default',
    default: -1,
    parse: parse.integer(-1, 16),
  },
} satisfies ConfigSpec;
