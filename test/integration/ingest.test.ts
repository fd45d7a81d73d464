import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '@badgestream/platform';
import { gradeEvent, viewEvent } from '../support/events.js';
import { CALIPER_V1P2, endOffsets, envelopeOf, eventId, readFrom, startIngestHarness, type DecodedRecord, type IngestHarness } from '../support/ingest.js';

let h: IngestHarness;

beforeAll(async () => {
  h = await startIngestHarness({ INGEST_AUTH_CACHE_TTL_MS: '300', INGEST_MAX_PAYLOAD_KB: '256' });
});
afterAll(async () => {
  await h?.close();
});



describe('POST /caliper on the real stack', () => {
  it('writes every event to caliper.events, keyed by tenant and learner, framed through the registry', async () => {
    const from = await endOffsets(h.kafka, TOPICS.events);
    const events = [viewEvent('https://example.edu/users/1'), gradeEvent('https://example.edu/users/2'), viewEvent('https://example.edu/users/3')];
    const response = await h.post(envelopeOf(events));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ accepted: { events: 3, entities: 0 } });

    const mine = (records: DecodedRecord[]) => records.filter((r) => r.headers['badgestream-tenant'] === h.tenant);
    const records = mine(await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => mine(rs).length >= 3));
    expect(records.map((r) => r.value).sort(byId)).toEqual([...events].sort(byId));
    const byEvent = new Map(records.map((r) => [r.value.id as string, r]));
    expect(byEvent.get(events[0]!.id)!.key).toBe(`${h.tenant}|https://example.edu/users/1`);
    expect(byEvent.get(events[1]!.id)!.key).toBe(`${h.tenant}|https://example.edu/users/2`);
    for (const r of records) {
      expect(r.headers).toMatchObject({ 'badgestream-tenant': h.tenant, 'badgestream-event-id': r.value.id, 'caliper-data-version': 'v1p2' });
    }
    // One learner, one partition: per-learner order holds.
    expect(byEvent.get(events[0]!.id)!.partition).toBe(records.find((r) => r.key === `${h.tenant}|https://example.edu/users/1`)!.partition);
  });

  it('writes entity describes to caliper.entities and events of the same envelope to caliper.events', async () => {
    const eventsFrom = await endOffsets(h.kafka, TOPICS.events);
    const entitiesFrom = await endOffsets(h.kafka, TOPICS.entities);
    const person = { '@context': CALIPER_V1P2, id: `https://example.edu/users/${eventId()}`, type: 'Person', name: 'Ada' };
    const event = viewEvent(person.id);
    expect((await h.post(envelopeOf([person, event]))).status).toBe(200);
    const entities = (await readFrom(h.kafka, h.registry, TOPICS.entities, entitiesFrom, (rs) => rs.some((r) => r.value.id === person.id))).filter((r) => r.value.id === person.id);
    expect(entities).toHaveLength(1);
    expect(entities[0]!.value).toEqual(person);
    expect(entities[0]!.key).toBe(`${h.tenant}|${person.id}`);
    const events = (await readFrom(h.kafka, h.registry, TOPICS.events, eventsFrom, (rs) => rs.some((r) => r.value.id === event.id))).filter((r) => r.value.id === event.id);
    expect(events).toHaveLength(1);
  });

  it('rejects an envelope with one bad event whole: nothing of it reaches Kafka', async () => {
    const from = await endOffsets(h.kafka, TOPICS.events);
    const good = viewEvent('https://example.edu/users/9');
    const bad = { ...viewEvent('https://example.edu/users/9'), action: 'Graded' };
    const response = await h.post(envelopeOf([good, bad]));
    expect(response.status).toBe(400);
    const body = response.body as { errors: { index: number; pointer: string; reason: string }[] };
    expect(body.errors).toEqual([expect.objectContaining({ index: 1, pointer: '/data/1/action' })]);
    const marker = viewEvent('https://example.edu/users/9');
    expect((await h.post(envelopeOf([marker]))).status).toBe(200);
    const seen = await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => rs.some((r) => r.value.id === marker.id));
    expect(seen.map((r) => r.value.id)).not.toContain(good.id);
  });

  it('rejects duplicate event ids inside one envelope', async () => {
    const event = viewEvent('https://example.edu/users/5');
    const response = await h.post(envelopeOf([event, { ...event }]));
    expect(response.status).toBe(400);
    expect((response.body as { errors: unknown[] }).errors).toEqual([expect.objectContaining({ index: 1, pointer: '/data/1/id', reason: expect.stringContaining('/data/0') })]);
  });

  it('answers 422 for an unsupported dataVersion', async () => {
    const response = await h.post(envelopeOf([viewEvent('https://example.edu/users/5')], 'http://purl.imsglobal.org/ctx/caliper/v2p0'));
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect((response.body as { errors: { pointer: string }[] }).errors[0]!.pointer).toBe('/dataVersion');
  });

  it('accepts Caliper 1.1 envelopes', async () => {
    const event = { ...viewEvent('https://example.edu/users/11'), '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p1' };
    const response = await h.post(envelopeOf([event], 'http://purl.imsglobal.org/ctx/caliper/v1p1'));
    expect(response.status).toBe(200);
  });
});

describe('GET /caliper and the operational endpoints', () => {
  it('returns the 1.2 configuration document to an authenticated caller', async () => {
    const response = await fetch(`${h.ingest.url}/caliper`, { headers: { authorization: `Bearer ${h.tokens.sensor}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      caliperSupportedVersions: expect.arrayContaining([CALIPER_V1P2]) as unknown,
      caliperMaximumPayloadSize: 256,
      caliperSupportedExtensions: expect.any(Object) as unknown,
    });
    expect((await fetch(`${h.ingest.url}/caliper`)).status).toBe(401);
  });

  it('reports liveness, readiness of Kafka and MongoDB, and Prometheus metrics', async () => {
    expect((await fetch(`${h.ingest.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${h.ingest.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { kafka: 'ok', mongodb: 'ok' } });
    const metrics = await (await fetch(`${h.ingest.url}/metrics`)).text();
    expect(metrics).toMatch(/badgestream_http_requests_total\{[^}]*route="\/caliper"[^}]*status="200"/);
    expect(metrics).toMatch(/badgestream_ingest_events_total\{outcome="accepted",reason=""[^}]*\} \d+/);
    expect(metrics).toMatch(/badgestream_ingest_events_total\{outcome="rejected",reason="invalid"/);
    expect(metrics).toContain('badgestream_kafka_produce_seconds_bucket');
  });
});

function byId(a: { id?: unknown }, b: { id?: unknown }): number {
  return String(a.id).localeCompare(String(b.id));
}
