import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '@badgestream/platform';
import { startKafka, stopKafka } from '../support/stack.js';
import { sessionEvent } from '../support/events.js';
import { endOffsets, envelopeOf, readFrom, startIngestHarness, type IngestHarness } from '../support/ingest.js';

let h: IngestHarness;
beforeAll(async () => {
  h = await startIngestHarness();
});
afterAll(async () => {
  await startKafka();
  await h?.close();
});

function events(n: number, learnerBase: string) {
  return Array.from({ length: n }, (_, i) => sessionEvent(`${learnerBase}/${i}`));
}

describe('Kafka outage', () => {
  it('answers 503 with Retry-After while the broker is down, writes nothing, and recovers when it is back', async () => {
    const from = await endOffsets(h.kafka, TOPICS.events);
    const before = events(5, 'https://example.edu/users/before');
    expect((await h.post(envelopeOf(before))).status).toBe(200);

    await stopKafka();
    // Spread over many learners, so the envelope spans several partitions.
    const during = events(20, 'https://example.edu/users/during');
    const refused = await h.post(envelopeOf(during));
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((refused.body as { detail: string }).detail).toContain('Nothing of this envelope was stored');
    expect((await fetch(`${h.ingest.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${h.ingest.url}/healthz`)).status).toBe(200);

    await startKafka();
    const after = events(5, 'https://example.edu/users/after');
    const deadline = Date.now() + 90_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await h.post(envelopeOf(after))).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(status).toBe(200);

    // Partitions are fetched in no particular order: wait for every accepted event, then read on
    // for a while, so that any event of the refused envelope would have shown up too.
    const accepted = [...before, ...after];
    await readFrom(h.kafka, h.registry, TOPICS.events, from, (rs) => accepted.every((e) => rs.some((r) => r.value.id === e.id)), 60_000);
    const records = await readFrom(h.kafka, h.registry, TOPICS.events, from, () => false, 10_000);
    const ids = new Set(records.map((r) => r.value.id));
    for (const e of before) expect(ids.has(e.id)).toBe(true);
    for (const e of after) expect(ids.has(e.id)).toBe(true);
    for (const e of during) expect(ids.has(e.id), `event ${e.id} of the refused envelope reached Kafka`).toBe(false);
  });
});
