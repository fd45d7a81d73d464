import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '@badgestream/platform';
import { CircuitBreaker } from './circuit-breaker.js';
import { relayCandidate } from './intake.js';

describe('the circuit breaker', () => {
  it('opens after consecutive failures, lets one trial through after the cooldown, closes on success', () => {
    let now = 0;
    const breaker = new CircuitBreaker(2, 1000, () => now);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('closed');
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    now = 1000;
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.failure();
    expect(breaker.state).toBe('open');
    now = 2000;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });
});

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
