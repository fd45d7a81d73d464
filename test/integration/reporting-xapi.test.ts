import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoTenantDirectory, connectMongo, type MongoConnection } from '@badgestream/platform';
import { uuidV5 } from '@badgestream/criteria';
import { EARNED_VERB, XAPI_NAMESPACE, openApiDocument, type RunningReporting } from '@badgestream/reporting';
import { startGroupAt } from '../support/criteria-stream.js';
import { requireStack, uniqueName, type StackEnv } from '../support/stack.js';
import { generateHistory, produceHistory, type GeneratedEvent } from '../support/reporting-history.js';
import { databaseUri, eventsSchemaId, getReport, stackKafka, startReportingOn, waitUntilCounted } from '../support/reporting.js';

/**
 * The xAPI connector against a learning record store stood in for by a local HTTP server: badge
 * events of the configured tenant reach it as statements, in batches, after it refused the first
 * ones; a restart sends nothing again; the download gives the same statements.
 */

interface Statement {
  id: string;
  actor: { account: { name: string } };
  verb: { id: string };
  object: { id: string; definition: { type: string } };
  timestamp: string;
  context: { extensions: Record<string, string> };
}

class LrsStandIn {
  readonly statements = new Map<string, Statement>();
  posts = 0;
  refused = 0;
  readonly headers: http.IncomingHttpHeaders[] = [];
  private server: http.Server | undefined;
  /** Refuses the first `refuseFirst` posts; with `takeBatches`, takes that many, then refuses all until released. */
  constructor(
    private readonly refuseFirst: number,
    private takeBatches = Infinity,
  ) {}

  release(): void {
    this.takeBatches = Infinity;
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts++;
        this.headers.push(req.headers);
        if (req.method !== 'POST' || req.url !== '/xapi/statements') return void res.writeHead(404).end();
        if (this.refused < this.refuseFirst || this.takeBatches <= 0) {
          this.refused++;
          return void res.writeHead(503, { 'retry-after': '0' }).end('busy');
        }
        this.takeBatches--;
        const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Statement[];
        for (const s of batch) this.statements.set(s.id, s);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch.map((s) => s.id)));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/xapi`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

let stack: StackEnv;
let mongo: MongoConnection;
let reporting: RunningReporting;
const lrs = new LrsStandIn(2);
const tenant = uniqueName('xapi');
const other = uniqueName('xapi-other');
let reader: string;
let events: GeneratedEvent[];
let lrsEnv: Record<string, string>;
let uri: string;
let groupId: string;

beforeAll(async () => {
  stack = await requireStack();
  uri = databaseUri(stack.mongodbUri, uniqueName('reporting-xapi'));
  mongo = await connectMongo(uri);
  const directory = new MongoTenantDirectory(mongo.db);
  await directory.init();
  await directory.createTenant(tenant);
  reader = (await directory.createKey(tenant, 'reader')).token;
  const endpoint = await lrs.start();
  lrsEnv = {
    REPORTING_LRS_ENDPOINT: endpoint,
    REPORTING_LRS_TENANT: tenant,
    REPORTING_LRS_AUTHORIZATION: 'Basic YmFkZ2VzdHJlYW06c2VjcmV0',
    REPORTING_LRS_BATCH: '100',
    REPORTING_LRS_BACKOFF_BASE_MS: '20',
    REPORTING_LRS_BACKOFF_MAX_MS: '200',
    REPORTING_LRS_ALLOW_PRIVATE_ADDRESSES: 'true',
  };
  const kafka = stackKafka(stack);
  const schemaId = await eventsSchemaId(stack);
  groupId = uniqueName('metrics-xapi');
  await startGroupAt(kafka, groupId);
  events = generateHistory({ tenant, events: 2_000, seed: 11 });
  await produceHistory(kafka, schemaId, [...events, ...generateHistory({ tenant: other, events: 500, seed: 12 })]);
  reporting = await startReportingOn(stack, uri, groupId, lrsEnv);
  await waitUntilCounted(kafka, groupId, schemaId);
});

afterAll(async () => {
  await reporting?.close();
  await lrs.close();
  await mongo?.close();
});

interface Connector {
  failedAttempts: number;
  pushedStatements: number;
  queuedStatements: number;
  inFlight: { slice: string; statements: number; sent: number } | null;
  progress: { done: number; total: number };
}

// The status as /openapi.json describes it (Ajv 8, JSON Schema 2020-12, as the platform package has it).
const { Ajv2020 } = createRequire(new URL('../../packages/platform/package.json', import.meta.url))('ajv/dist/2020.js') as {
  Ajv2020: new (options: object) => { addSchema(schema: unknown, key: string): void; getSchema(ref: string): ((value: unknown) => boolean) | undefined };
};
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv as never);
ajv.addSchema(openApiDocument(), 'openapi.json');
const validStatus = ajv.getSchema('openapi.json#/components/schemas/xapiPushStatus')!;

async function until(ok: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('xAPI statements of badge events', () => {
  it('reach the LRS, every badge event of the tenant once as a statement, after the LRS refused the first batches', async () => {
    const badgeEvents = events.filter((e) => e.known.badge);
    const expectedIds = new Set(badgeEvents.map((e) => uuidV5(e.known.eventId, XAPI_NAMESPACE)));
    await until(() => lrs.statements.size >= expectedIds.size, `${lrs.statements.size} of ${expectedIds.size} statements`);
    expect(new Set(lrs.statements.keys())).toEqual(expectedIds);
    expect(lrs.refused).toBe(2);
    expect(lrs.headers.every((h) => h.authorization === lrsEnv.REPORTING_LRS_AUTHORIZATION && h['x-experience-api-version'] === '1.0.3')).toBe(true);

    const issued = badgeEvents.find((e) => e.known.action === 'Issued')!;
    expect(lrs.statements.get(uuidV5(issued.known.eventId, XAPI_NAMESPACE))).toMatchObject({
      actor: { account: { name: issued.known.recipient } },
      verb: { id: EARNED_VERB },
      object: { id: issued.known.badgeClass, definition: { type: 'http://activitystrea.ms/schema/1.0/badge' } },
      timestamp: new Date(issued.known.time).toISOString(),
      context: { extensions: { 'https://w3id.org/badgestream/xapi/caliper-event-id': issued.known.eventId } },
    });

    let status = await getReport(reporting.url, '/exports/xapi/status', reader);
    for (let i = 0; i < 100 && (status.body.connectors as { queuedSlices: number }[])[0]?.queuedSlices !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await getReport(reporting.url, '/exports/xapi/status', reader);
    }
    expect(status.body.connectors).toEqual([
      expect.objectContaining({
        tenant,
        pushedStatements: expectedIds.size,
        queuedSlices: 0,
        queuedStatements: 0,
        inFlight: null,
        progress: { done: expectedIds.size, total: expectedIds.size },
        failedAttempts: 2,
        lastError: null,
      }),
    ]);
    expect(validStatus(status.body)).toBe(true);
  });

  it('says how far the push got while it runs: the statements the LRS took of all it was given, and the slice in flight', async () => {
    // A second connector on the same counted slices, to an LRS that takes three batches of 7 and
    // then refuses everything until released: a push stopped part way, read from its status.
    const slow = new LrsStandIn(0, 3);
    const endpoint = await slow.start();
    const second = await startReportingOn(stack, uri, groupId, { ...lrsEnv, REPORTING_LRS_ENDPOINT: endpoint, REPORTING_LRS_BATCH: '7' });
    const total = events.filter((e) => e.known.badge).length;
    const status = async () => {
      const { body } = await getReport(second.url, '/exports/xapi/status', reader);
      expect(validStatus(body)).toBe(true);
      return (body.connectors as Connector[])[0]!;
    };
    try {
      let stalled = await status();
      for (let i = 0; i < 200 && stalled.failedAttempts < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        stalled = await status();
      }
      // Done is what the LRS took (three batches: 21 statements, of whichever slices they were).
      const taken = slow.statements.size;
      expect(taken).toBeGreaterThan(0);
      expect(taken).toBeLessThanOrEqual(21);
      expect(stalled.progress).toEqual({ done: taken, total });
      expect(stalled.progress.total).toBe(stalled.pushedStatements + stalled.queuedStatements);
      expect(stalled.inFlight).not.toBeNull();
      expect(stalled.pushedStatements + stalled.inFlight!.sent).toBe(taken);
      expect(stalled.inFlight!.sent).toBeLessThan(stalled.inFlight!.statements);

      slow.release();
      let finished = await status();
      for (let i = 0; i < 600 && finished.progress.done < total; i++) {
        await new Promise((r) => setTimeout(r, 50));
        finished = await status();
      }
      expect(finished).toMatchObject({ progress: { done: total, total }, pushedStatements: total, queuedStatements: 0, inFlight: null });
      expect(slow.statements.size).toBe(total);
    } finally {
      await second.close();
      await slow.close();
    }
  });

  it('records how far it got: a restarted service sends nothing again', async () => {
    const posts = lrs.posts;
    await reporting.close();
    reporting = await startReportingOn(stack, uri, groupId, lrsEnv);
    const status = await getReport(reporting.url, '/exports/xapi/status', reader);
    expect(status.body.connectors).toEqual([expect.objectContaining({ pushedStatements: lrs.statements.size, queuedSlices: 0, progress: { done: lrs.statements.size, total: lrs.statements.size } })]);
    expect(lrs.posts).toBe(posts);
  });

  it('downloads the same statements', async () => {
    const download = await getReport(reporting.url, '/exports/xapi', reader, { from: '2025-01-01', to: '2027-01-01' });
    expect(download.status).toBe(200);
    const statements = JSON.parse(download.text) as Statement[];
    expect(new Map(statements.map((s) => [s.id, s]))).toEqual(lrs.statements);
  });
});
