/**
 * The real stack (Kafka, a Confluent-compatible schema registry, MongoDB or FerretDB) for
 * integration tests and benchmarks.
 *
 * 1. From the environment: KAFKA_BROKERS (comma-separated), SCHEMA_REGISTRY_URL, MONGODB_URI,
 *    as printed by `bash deploy/local/stack.sh env`.
 * 2. Else, when a Docker engine answers: Kafka, Apicurio Registry and MongoDB 7 started with
 *    testcontainers, once per process (or once per run when this file is also the vitest
 *    `globalSetup`: its `setup()` starts them and exports the three variables to the workers).
 * 3. Else an Error that says how to start the local stack. The same Error when the configured
 *    stack does not answer, so a dead stack fails loudly instead of hanging or skipping.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StackEnv {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  mongodbUri: string;
}

export const REPO_ROOT = path.resolve(fileURLToPath(import.meta.url), '../../..');
const STACK_SCRIPT = path.join(REPO_ROOT, 'deploy/local/stack.sh');

/** Images for the testcontainers fallback (the same as docker-compose.yml). */
export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  registry: 'apicurio/apicurio-registry:3.3.3',
  mongo: 'mongo:7',
} as const;

const CONNECT_TIMEOUT_MS = 2_000;

export const STACK_HELP = [
  'Start the local stack and export its environment in the shell that runs the tests:',
  '  npm run stack:up',
  '  eval "$(bash deploy/local/stack.sh env)"',
  '(see deploy/local/README.md; with a Docker engine and none of KAFKA_BROKERS, SCHEMA_REGISTRY_URL,',
  'MONGODB_URI set, the tests start Kafka, Apicurio Registry and MongoDB with testcontainers instead).',
].join('\n');

export class StackUnavailableError extends Error {
  constructor(reason: string) {
    super(`No Badgestream stack for the integration tests: ${reason}.\n${STACK_HELP}`);
    this.name = 'StackUnavailableError';
  }
}

type Source = 'env' | 'testcontainers';
let source: Source | undefined;

// Kept on globalThis so that a worker reused across test files starts the containers once.
const CONTAINERS_KEY = Symbol.for('badgestream.test.stack.containers');
interface ContainersState {
  stack: Promise<StackEnv>;
  stop: () => Promise<void>;
}
const globalState = globalThis as unknown as { [CONTAINERS_KEY]?: ContainersState };

/**
 * The stack to test against, checked to be reachable (a short TCP/HTTP probe of each part).
 * Throws a StackUnavailableError naming `npm run stack:up` when there is none.
 */
export async function requireStack(): Promise<StackEnv> {
  const fromEnv = stackFromEnv();
  if (fromEnv) {
    source = 'env';
    await checkReachable(fromEnv, 'from KAFKA_BROKERS, SCHEMA_REGISTRY_URL and MONGODB_URI');
    return fromEnv;
  }
  if (await dockerAvailable()) {
    source = 'testcontainers';
    const stack = await startContainers().stack;
    await checkReachable(stack, 'started with testcontainers');
    return stack;
  }
  throw new StackUnavailableError('KAFKA_BROKERS, SCHEMA_REGISTRY_URL and MONGODB_URI are not set and no Docker engine answers');
}

/** Where the stack of the last requireStack() came from. */
export function stackSource(): Source | undefined {
  return source;
}

function stackFromEnv(): StackEnv | undefined {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI } = process.env;
  const set = [KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI].filter((v) => v !== undefined && v.trim() !== '');
  if (set.length === 0) return undefined;
  if (set.length < 3) {
    const missing = Object.entries({ KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI })
      .filter(([, v]) => v === undefined || v.trim() === '')
      .map(([k]) => k);
    throw new StackUnavailableError(`${missing.join(', ')} not set (the other stack variables are)`);
  }
  return {
    kafkaBrokers: KAFKA_BROKERS!.split(',').map((b) => b.trim()).filter(Boolean),
    schemaRegistryUrl: SCHEMA_REGISTRY_URL!.trim().replace(/\/+$/, ''),
    mongodbUri: MONGODB_URI!.trim(),
  };
}

// ---------------------------------------------------------------------------------------------
// Reachability

function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address.trim());
  if (!m?.[1]) throw new StackUnavailableError(`cannot read host:port from "${address}"`);
  return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
}

export function tcpReachable(host: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The hosts of a mongodb:// URI (mongodb+srv:// URIs are not probed: DNS decides). */
function mongoHosts(uri: string): Array<{ host: string; port: number }> {
  const m = /^mongodb:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  if (!m?.[1]) return [];
  return m[1].split(',').map((h) => hostPort(h, 27017));
}

async function checkReachable(stack: StackEnv, origin: string): Promise<void> {
  const problems: string[] = [];
  const kafkaUp = await Promise.all(stack.kafkaBrokers.map((b) => hostPort(b, 9092)).map((a) => tcpReachable(a.host, a.port)));
  if (stack.kafkaBrokers.length === 0 || !kafkaUp.some(Boolean)) problems.push(`Kafka at ${stack.kafkaBrokers.join(',') || '(none)'} does not accept connections`);
  try {
    const res = await fetch(`${stack.schemaRegistryUrl}/subjects`, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) problems.push(`the schema registry at ${stack.schemaRegistryUrl} answers ${res.status} to GET /subjects`);
  } catch (error) {
    problems.push(`the schema registry at ${stack.schemaRegistryUrl} does not answer (${(error as Error).message})`);
  }
  const hosts = mongoHosts(stack.mongodbUri);
  if (hosts.length > 0 && !(await Promise.all(hosts.map((h) => tcpReachable(h.host, h.port)))).some(Boolean)) {
    problems.push(`MongoDB at ${stack.mongodbUri} does not accept connections`);
  }
  if (problems.length > 0) throw new StackUnavailableError(`the stack ${origin} is not reachable: ${problems.join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// Docker / testcontainers fallback

function dockerSocketCandidates(): string[] {
  const sockets = ['/var/run/docker.sock', path.join(os.homedir(), '.docker/run/docker.sock')];
  if (process.env.XDG_RUNTIME_DIR) sockets.push(path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  return sockets;
}

function ping(options: http.RequestOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ ...options, path: '/_ping', timeout: 1_500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

/** Whether a Docker engine answers, checked quickly (no docker CLI needed). */
export async function dockerAvailable(): Promise<boolean> {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    if (dockerHost.startsWith('unix://')) return ping({ socketPath: dockerHost.slice('unix://'.length) });
    if (dockerHost.startsWith('tcp://')) {
      if (process.env.DOCKER_TLS_VERIFY) return true; // TLS: let testcontainers speak to it
      const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
      return ping({ host: url.hostname, port: Number(url.port || 2375) });
    }
    return true; // ssh:// and others: let testcontainers try
  }
  for (const socketPath of dockerSocketCandidates()) {
    if (existsSync(socketPath) && (await ping({ socketPath }))) return true;
  }
  return false;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function startContainers(): ContainersState {
  const existing = globalState[CONTAINERS_KEY];
  if (existing) return existing;
  const started: Array<{ stop: () => Promise<unknown> }> = [];
  const stack = (async (): Promise<StackEnv> => {
    const { GenericContainer, Wait } = await import('testcontainers');
    // Kafka must advertise the address clients use, so its host port is chosen before it starts.
    const host = process.env.TESTCONTAINERS_HOST_OVERRIDE ?? 'localhost';
    const kafkaPort = await freePort();
    const kafka = new GenericContainer(IMAGES.kafka)
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_NUM_PARTITIONS: '6',
        KAFKA_HEAP_OPTS: '-Xms256m -Xmx512m',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(180_000);
    const registry = new GenericContainer(IMAGES.registry)
      .withExposedPorts(8080)
      .withEnvironment({ JAVA_OPTS_APPEND: '-Xms64m -Xmx512m' })
      .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
      .withStartupTimeout(180_000);
    const mongo = new GenericContainer(IMAGES.mongo)
      .withExposedPorts(27017)
      .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
      .withStartupTimeout(180_000);
    const [k, r, m] = await Promise.all(
      [kafka, registry, mongo].map(async (c) => {
        const running = await c.start();
        started.push(running);
        return running;
      }),
    );
    return {
      kafkaBrokers: [`${host}:${k!.getMappedPort(9092)}`],
      schemaRegistryUrl: `http://${r!.getHost()}:${r!.getMappedPort(8080)}/apis/ccompat/v7`,
      mongodbUri: `mongodb://${m!.getHost()}:${m!.getMappedPort(27017)}/badgestream`,
    };
  })();
  const state: ContainersState = {
    stack,
    stop: async () => {
      await Promise.allSettled(started.map((c) => c.stop()));
      delete globalState[CONTAINERS_KEY];
    },
  };
  globalState[CONTAINERS_KEY] = state;
  // A failed start must not be cached: the next call tries again (and reports its own error).
  stack.catch(() => {
    void state.stop();
  });
  return state;
}

/**
 * vitest globalSetup hook (`globalSetup: ['test/support/stack.ts']`): with no stack in the
 * environment and a Docker engine present, starts the containers once for the whole run and
 * exports KAFKA_BROKERS, SCHEMA_REGISTRY_URL and MONGODB_URI to the test workers. Otherwise it
 * does nothing, and each test reports a missing stack itself.
 */
export async function setup(): Promise<void> {
  if (stackFromEnv() || !(await dockerAvailable())) return;
  const stack = await startContainers().stack;
  process.env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
  process.env.SCHEMA_REGISTRY_URL = stack.schemaRegistryUrl;
  process.env.MONGODB_URI = stack.mongodbUri;
  process.env.BADGESTREAM_STACK_SOURCE = 'testcontainers';
}

export async function teardown(): Promise<void> {
  await globalState[CONTAINERS_KEY]?.stop();
}

// ---------------------------------------------------------------------------------------------
// Kafka outage helpers (local stack only)

function assertLocalStackControl(action: string): void {
  if (source === 'testcontainers' || process.env.BADGESTREAM_STACK_SOURCE === 'testcontainers') {
    throw new Error(
      `${action} is not supported when the stack runs under testcontainers; run the test on the local stack (npm run stack:up, then eval "$(bash deploy/local/stack.sh env)")`,
    );
  }
  const brokers = stackFromEnv()?.kafkaBrokers ?? [];
  const local = brokers.length > 0 && brokers.every((b) => ['127.0.0.1', 'localhost', '::1'].includes(hostPort(b, 9092).host));
  if (!local) {
    throw new Error(`${action} controls the local stack only (deploy/local/stack.sh), but KAFKA_BROKERS is "${process.env.KAFKA_BROKERS ?? ''}". ${STACK_HELP}`);
  }
}

function stackScriptEnv(): NodeJS.ProcessEnv {
  const first = stackFromEnv()?.kafkaBrokers[0];
  const env = { ...process.env };
  if (first && !env.KAFKA_PORT) env.KAFKA_PORT = String(hostPort(first, 9092).port);
  return env;
}

function runStackScript(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [STACK_SCRIPT, ...args], { cwd: REPO_ROOT, env: stackScriptEnv(), timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`bash deploy/local/stack.sh ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

function kafkaAddress(): { host: string; port: number } {
  return hostPort(stackFromEnv()!.kafkaBrokers[0]!, 9092);
}

/** Stops the local stack's broker (`bash deploy/local/stack.sh stop kafka`); returns when its port is closed. */
export async function stopKafka(): Promise<void> {
  assertLocalStackControl('stopKafka()');
  await runStackScript(['stop', 'kafka'], 90_000);
  const { host, port } = kafkaAddress();
  if (await tcpReachable(host, port)) {
    throw new Error(`Kafka at ${host}:${port} still accepts connections after "stack.sh stop kafka": it was not started by deploy/local/stack.sh`);
  }
}

/** Starts the local stack's broker again (`bash deploy/local/stack.sh start kafka`); returns when it is ready. */
export async function startKafka(): Promise<void> {
  assertLocalStackControl('startKafka()');
  await runStackScript(['start', 'kafka'], 240_000);
  const { host, port } = kafkaAddress();
  if (!(await tcpReachable(host, port))) throw new Error(`Kafka at ${host}:${port} does not accept connections after "stack.sh start kafka"`);
}

/**
 * A name unique to this call, valid as a Kafka topic, consumer group and MongoDB database name
 * (lower-case letters, digits and '-', at most 48 characters).
 */
export function uniqueName(prefix = 'test'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30) || 'test';
  return `${clean}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
