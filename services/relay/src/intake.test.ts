import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '@badgestream/platform';
import { relayCandidate } from './intake.js';

describe('which records the relay forwards', () => {
  const record = (value: Record<string, unknown>, headers: Record<string, string> = {}): ConsumedRecord => ({
    topic: 'caliper.events',
    partition: 3,
    offset: '0',
    key: '',
    headers: { 'badgestream-tenant': 'consumer', ...headers },
    value,
    raw: null,
  });
  const verified = { type: 'BadgeEvent', id: 'urn:uuid:1', action: 'Verified', object: 'https://i.example/a/1' };
  const relaying = new Set(['consumer']);

  it('takes consumer-side badge events of relaying tenants', () => {
    expect(relayCandidate(record(verified), relaying)).toMatchObject({ tenant: 'consumer', partition: 3, eventId: 'urn:uuid:1', action: 'Verified' });
  });

  it('leaves reports received from consumers, issuer-side actions, other events and other tenants', () => {
    expect(relayCandidate(record(verified, { 'badgestream-report': 'consumer' }), relaying)).toBeUndefined();
    expect(relayCandidate(record({ ...verified, action: 'Issued' }), relaying)).toBeUndefined();
    expect(relayCandidate(record({ ...verified, type: 'ViewEvent', action: 'Viewed' }), relaying)).toBeUndefined();
    expect(relayCandidate(record(verified, { 'badgestream-tenant': 'other' }), relaying)).toBeUndefined();
  });
});
