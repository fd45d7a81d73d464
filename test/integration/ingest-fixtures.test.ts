import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples } from '@badgestream/profile-open-badges';
import { offendingField } from '../support/fixtures.js';
import { envelopeOf, fixtureFiles, readFixture, startIngestHarness, type IngestHarness } from '../support/ingest.js';

/** Reference material in v1p2/ that is not a top-level describe (see the fixtures' README). */
const NOT_DESCRIBES = new Set([
  'caliperEndpointConfigPayload.json',
  'caliperIdentifierSystemIdentifier.json',
  'caliperEntitySystemIdentifier.json',
  'caliperEntityTextPositionSelector.json',
]);

let h: IngestHarness;
beforeAll(async () => {
  h = await startIngestHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('the Caliper specification fixtures through POST /caliper', () => {
  const valid = fixtureFiles('v1p2').filter((f) => !NOT_DESCRIBES.has(f));

  it('finds the fixtures', () => {
    expect(valid.length).toBeGreaterThanOrEqual(141);
  });

  it.each(valid)('accepts %s', async (file) => {
    const fixture = readFixture(`v1p2/${file}`);
    const body = file.startsWith('caliperEnvelope') ? fixture : envelopeOf([fixture]);
    const r = await h.post(body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });

  it.each(fixtureFiles('v1p2-invalid'))('rejects %s with a 4xx naming the offending field', async (file) => {
    const fixture = readFixture(`v1p2-invalid/${file}`);
    const field = offendingField(file, fixture);
    const r = await h.post(envelopeOf([fixture]));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    const errors = (r.body as { errors: { pointer: string; reason: string }[] }).errors;
    expect(errors.length).toBeGreaterThan(0);
    const mentions = errors.some((e) => `${e.pointer} ${e.reason}`.toLowerCase().includes(field.toLowerCase()));
    expect(mentions, `${field} in ${JSON.stringify(errors)}`).toBe(true);
  });
});

describe('the Open Badges profile examples through POST /caliper', () => {
  it('accepts every example of the profile', async () => {
    const examples = loadExamples();
    expect(Object.keys(examples).length).toBeGreaterThanOrEqual(14);
    for (const [name, example] of Object.entries(examples)) {
      const r = await h.post(envelopeOf([example]));
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(200);
    }
  });
});
