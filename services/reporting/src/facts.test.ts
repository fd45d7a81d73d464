import { describe, expect, it } from 'vitest';
import { loadExamples } from '@badgestream/profile-open-badges';
import { factOf } from './facts.js';
import { decodeFacts, encodeFacts } from './slice-data.js';

const headers = { 'badgestream-tenant': 'acme', 'badgestream-received-at': '2026-11-01T10:00:00.000Z' };
const examples = loadExamples() as Record<string, Record<string, unknown>>;

describe('the fact of an event', () => {
  it('takes the badge class and recipient from the embedded assertion, the issuer from an embedded badge class', () => {
    expect(factOf(headers, examples['issued.json'])).toMatchObject({
      tenant: 'acme',
      action: 'Issued',
      badgeClass: 'https://badges.example.edu/badgeclasses/data-literacy',
      issuer: 'https://badges.example.edu/issuers/1',
      recipient: 'https://example.edu/users/554433',
      actor: 'https://badges.example.edu',
      edApp: 'https://badges.example.edu',
      badge: true,
      time: Date.parse('2024-05-02T09:00:00.000Z'),
      receivedAt: Date.parse('2026-11-01T10:00:00.000Z'),
    });
  });

  it('makes the actor the recipient of Assigned, and a hashed identity a recipient of Shared', () => {
    expect(factOf(headers, examples['assigned.json'])).toMatchObject({ recipient: 'https://example.edu/users/554433', badgeClass: 'https://badges.example.edu/badgeclasses/data-literacy', issuer: 'https://badges.example.edu/issuers/1' });
    expect(factOf(headers, examples['shared.json'])).toMatchObject({ recipient: expect.stringMatching(/^email:sha256\$/), issuer: '', actor: 'https://example.edu/users/554433' });
  });

  it('leaves badge class and recipient empty for an assertion named by IRI only (a verifier is not a recipient)', () => {
    expect(factOf(headers, examples['verified.json'])).toMatchObject({ badgeClass: '', recipient: '', actor: 'https://verify.example.org', action: 'Verified' });
  });

  it('counts learning events as Type:Action, for the learner', () => {
    const graded = { id: 'urn:uuid:1', type: 'GradeEvent', action: 'Graded', eventTime: '2026-01-01T00:00:00Z', actor: { id: 'https://x/grader', type: 'SoftwareApplication' }, object: { id: 'a', type: 'Attempt', assignee: { id: 'https://x/u/1', type: 'Person' } } };
    expect(factOf(headers, graded)).toMatchObject({ action: 'GradeEvent:Graded', recipient: 'https://x/u/1', badge: false, badgeClass: '' });
  });

  it('skips records without a tenant or that are not events', () => {
    expect(factOf({}, examples['issued.json'])).toEqual({ skip: 'no tenant header' });
    expect(factOf(headers, { id: 'x', type: 'Person' })).toEqual({ skip: 'not an event' });
    expect(factOf(headers, { ...examples['issued.json'], eventTime: 'soon' })).toEqual({ skip: 'eventTime is not a date' });
  });

  it('are stored and read back unchanged (event ids of badge events only)', () => {
    const facts = ['issued.json', 'shared.json', 'verified.json'].map((name) => factOf(headers, examples[name]) as Exclude<ReturnType<typeof factOf>, { skip: string }>);
    expect(decodeFacts(encodeFacts(facts))).toEqual(facts.map((f) => ({ ...f, receivedAt: 0 })));
  });
});
