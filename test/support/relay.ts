import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadRelayConfig, startRelay, type RunningRelay } from '@badgestream/relay';
import { createLogger } from '@badgestream/platform';
import { startGroupAt } from './criteria-stream.js';
import type { IngestHarness } from './ingest.js';
import { uniqueName } from './ingest.js';
import { requireStack } from './stack.js';

/**
 * A relay started in this process on the real stack, in a consumer group of its own that starts
 * at the end of caliper.events (so it sees only what the test posts) or at `from`, with fast retries.
 * `restart()` stops it gracefully and starts another instance in the same group.
 */
export interface RelayHarness {
  relay: RunningRelay;
  groupId: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelayHarness(h: IngestHarness, overrides: Record<string, string>, from?: Map<number, string>): Promise<RelayHarness> {
  const stack = await requireStack();
  const groupId = uniqueName('relay');
  await startGroupAt(h.kafka, groupId, from);
  const start = () =>
    startRelay(
      loadRelayConfig({
        KAFKA_BROKERS: stack.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
        MONGODB_URI: stack.mongodbUri,
        RELAY_PORT: '0',
        RELAY_GROUP_ID: groupId,
        RELAY_POLL_MS: '50',
        RELAY_ENDPOINTS_REFRESH_MS: '100',
        RELAY_PENDING_RELOAD_MS: '200',
        RELAY_BACKOFF_BASE_MS: '100',
        RELAY_BACKOFF_MAX_MS: '400',
        RELAY_BREAKER_FAILURES: '3',
        RELAY_BREAKER_COOLDOWN_MS: '300',
        RELAY_DELIVERY_TIMEOUT_MS: '1500',
        RELAY_FETCH_TIMEOUT_MS: '1500',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        ...overrides,
      }),
      createLogger('relay-test', process.env.LOG_LEVEL ?? 'warn'),
    );
  const harness: RelayHarness = {
    relay: await start(),
    groupId,
    async restart() {
      await harness.relay.close();
      harness.relay = await start();
    },
    close: () => harness.relay.close(),
  };
  return harness;
}

/** Polls until `ok(value)`, failing with what was last seen. */
export async function until<T>(what: string, probe: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms; last seen: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ReceivedEnvelope {
  /** When the answer was sent (Date.now()). */
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  eventIds: string[];
  status: number;
}

export type Answer = { status: number; delayMs?: number; hang?: boolean; retryAfter?: string };

/**
 * A real HTTP server standing in for an issuer somewhere else: it serves badge objects (GET) and
 * receives Caliper envelopes (POST), answering each POST as `script(path, n)` says (n counts the
 * POSTs to that path from 1). Acknowledged events are those of envelopes answered 2xx.
 */
export class IssuerStandIn {
  readonly received: ReceivedEnvelope[] = [];
  /** Called with each envelope as it is answered. */
  onReceived: ((envelope: ReceivedEnvelope) => void) | undefined;
  private readonly objects = new Map<string, { body: string; contentType: string }>();
  private readonly posts = new Map<string, number>();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly script: (path: string, n: number) => Answer) {}

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  serve(path: string, object: unknown, contentType = 'application/ld+json'): string {
    this.objects.set(path, { body: typeof object === 'string' ? object : JSON.stringify(object), contentType });
    return `${this.origin}${path}`;
  }

  acknowledged(path: string): string[] {
    return this.received.filter((r) => r.path === path && r.status >= 200 && r.status < 300).flatMap((r) => r.eventIds);
  }

  requests(path: string): ReceivedEnvelope[] {
    return this.received.filter((r) => r.path === path);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    if (req.method === 'GET') {
      const object = this.objects.get(path);
      if (!object) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': object.contentType }).end(object.body);
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = (this.posts.get(path) ?? 0) + 1;
      this.posts.set(path, n);
      const answer = this.script(path, n);
      const raw = Buffer.concat(chunks).toString('utf8');
      const eventIds = ((JSON.parse(raw) as { data?: { id: string }[] }).data ?? []).map((e) => e.id);
      if (answer.hang) return void this.received.push({ at: Date.now(), path, headers: req.headers, raw, eventIds, status: 0 }); // never answered: the relay's timeout gives up on it
      const reply = () => {
        const envelope = { at: Date.now(), path, headers: req.headers, raw, eventIds, status: answer.status };
        this.received.push(envelope);
        this.onReceived?.(envelope);
        res.writeHead(answer.status, answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}).end(answer.status < 300 ? '' : `scripted ${answer.status}`);
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  }
}
