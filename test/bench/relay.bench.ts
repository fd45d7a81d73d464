/**
 * npm run bench:relay — the relay on the real stack, against a baseline that POSTs the same
 * envelopes straight to the same local receiver in the same run.
 *
 * 1. Throughput: BENCH_EVENTS Verified events about a badge whose metadata advertises the local
 *    receiver are written to caliper.events; the relay (in this process, its own consumer group
 *    starting before them) forwards them; events per second from the first envelope the receiver
 *    answers to the last (and, apart, from the relay's start, start-up included).
 * 2. Latency: with the relay caught up, events are written at half that rate (at most 1,000/s)
 *    for BENCH_LATENCY_SECONDS; latency = receiver's answer − the event's write to Kafka.
 * 3. Baseline: the envelopes the receiver got in 1 are POSTed again, directly, with as many in
 *    flight as the relay allows per endpoint; events/s and per-envelope latency.
 */
import { KafkaEventLog, MongoRelayStore, TOPICS, createLogger, createMetricsRegistry, registerValueSchemas } from '@badgestream/platform';
import { OPEN_BADGES_CONTEXT_IRI } from '@badgestream/profile-open-badges';
import { loadKafkaValueSchemas } from '@badgestream/schemas';
import { CALIPER_V1P2, endOffsets, eventId, startIngestHarness, uniqueName } from '../support/ingest.js';
import { IssuerStandIn, startRelayHarness, until, type ReceivedEnvelope } from '../support/relay.js';
import { figures, formatRow, percentile, runConcurrently } from './stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 10);
const ENDPOINT_CONCURRENCY = 4;
const VERIFIERS = 200;
const run = uniqueName('bench-relay');

async function main(): Promise<void> {
  const h = await startIngestHarness({ LOG_LEVEL: 'warn' });
  const receiver = new IssuerStandIn(() => ({ status: 200 }));
  await receiver.start();
  const endpoint = `${receiver.origin}/caliper`;
  const badge = receiver.serve('/badges/1', { id: `${receiver.origin}/badges/1`, type: 'BadgeClass', name: 'Bench', 'ims:TBAcaliperApi': { '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': endpoint, actions: ['Verified'] } });
  const assertion = receiver.serve('/assertions/1', { id: `${receiver.origin}/assertions/1`, type: 'Assertion', badge, recipient: { type: 'email', identity: 'sha256$00', hashed: true } });
  const store = new MongoRelayStore(h.mongo.db);
  await store.init();
  await store.putEndpoint(h.tenant, endpoint, { token: 'bench-token' });

  const schemaIds = await registerValueSchemas(h.registry, loadKafkaValueSchemas());
  const log = new KafkaEventLog({ kafka: h.kafka, valueSchemaIds: schemaIds, logger: createLogger('bench', 'error'), metrics: createMetricsRegistry('bench'), instanceId: `${run}-producer` });
  let n = 0;
  const write = async (count: number): Promise<string[]> => {
    const events = Array.from({ length: count }, () => {
      const verifier = `https://verify.example/${run}/${n++ % VERIFIERS}`;
      return { '@context': [OPEN_BADGES_CONTEXT_IRI, CALIPER_V1P2], id: eventId(), type: 'BadgeEvent', actor: { id: verifier, type: 'SoftwareApplication' }, action: 'Verified', object: assertion, eventTime: new Date().toISOString() };
    });
    await log.publish(events.map((event) => ({ topic: TOPICS.events, key: `${h.tenant}|${event.actor.id}`, value: event, headers: { 'badgestream-tenant': h.tenant, 'badgestream-event-id': event.id, 'caliper-data-version': 'v1p2', 'badgestream-received-at': new Date().toISOString() } })));
    return events.map((e) => e.id);
  };

  const start = await endOffsets(h.kafka, TOPICS.events);
  for (let c = 0; c < EVENTS; c += 1000) await write(Math.min(1000, EVENTS - c));
  console.log(`bench:relay: ${EVENTS} Verified events to one local endpoint, ${start.size} partitions, up to 50 events per envelope, ${ENDPOINT_CONCURRENCY} envelopes in flight (run ${run})`);

  const acknowledged = () => receiver.received.reduce((sum, r) => sum + r.eventIds.length, 0);
  const t0 = process.hrtime.bigint();
  const relay = await startRelayHarness(h, { RELAY_ALLOWED_PRIVATE_HOSTS: `127.0.0.1:${receiver.port}`, RELAY_ENDPOINT_CONCURRENCY: String(ENDPOINT_CONCURRENCY), RELAY_POLL_MS: '20', LOG_LEVEL: 'warn' }, start);
  try {
    await until('every event relayed', acknowledged, (count) => count >= EVENTS, 600_000);
    const relaySeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const envelopes: ReceivedEnvelope[] = [...receiver.received];
    // From the first envelope to the last: the rate once the relay is up (group joined, metadata read).
    const steadySeconds = (envelopes[envelopes.length - 1]!.at - envelopes[0]!.at) / 1000;
    const relayRate = (EVENTS - envelopes[0]!.eventIds.length) / steadySeconds;

    // Latency at half the sustained rate.
    const rate = Math.min(1000, relayRate / 2);
    const writtenAt = new Map<string, number>();
    const latencies: number[] = [];
    receiver.onReceived = (envelope) => {
      for (const id of envelope.eventIds) {
        const at = writtenAt.get(id);
        if (at !== undefined) latencies.push(envelope.at - at);
      }
    };
    const perWrite = 10;
    const writes = Math.max(1, Math.round((rate * LATENCY_SECONDS) / perWrite));
    const started = Date.now();
    for (let w = 0; w < writes; w++) {
      const ids = await write(perWrite);
      const at = Date.now();
      for (const id of ids) writtenAt.set(id, at);
      const wait = started + ((w + 1) * perWrite * 1000) / rate - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await until('latency events relayed', () => latencies.length, (count) => count >= writtenAt.size, 120_000);
    latencies.sort((a, b) => a - b);

    // Baseline: the same envelopes, POSTed directly.
    const baselineRun = await runConcurrently(envelopes.length, ENDPOINT_CONCURRENCY, async (i) => {
      const r = await fetch(`${receiver.origin}/caliper/baseline`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench-token' }, body: envelopes[i]!.raw });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`receiver answered ${r.status}`);
    });
    const baseline = figures(EVENTS, baselineRun);

    const widths = [40, 10, 12, 10, 10];
    console.log(formatRow(['', 'seconds', 'events/s', 'p50 ms', 'p99 ms'], widths));
    console.log(formatRow(['baseline (same envelopes POSTed directly)', baseline.seconds, baseline.eventsPerSecond, baseline.p50Ms, baseline.p99Ms], widths));
    console.log(formatRow(['relay, start to last envelope', relaySeconds, EVENTS / relaySeconds, '-', '-'], widths));
    console.log(formatRow([`relay, first to last of ${envelopes.length} envelopes`, steadySeconds, relayRate, '-', '-'], widths));
    console.log(formatRow([`relay latency at ${rate.toFixed(0)} events/s`, LATENCY_SECONDS, latencies.length / LATENCY_SECONDS, percentile(latencies, 50), percentile(latencies, 99)], widths));
    console.log(`ratio relay/baseline events/s: ${((100 * relayRate) / baseline.eventsPerSecond).toFixed(1)} % (first to last envelope; the relay also reads Kafka and writes MongoDB to make delivery durable)`);
    console.log(`ratio relay/baseline p99 latency: ${(percentile(latencies, 99) / baseline.p99Ms).toFixed(1)}× (relay: Kafka write → receiver's answer; baseline: one envelope POST)`);
  } finally {
    await relay.close();
    await log.close();
    await receiver.close();
    await h.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
