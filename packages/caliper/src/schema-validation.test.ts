import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadExamples } from '@badgestream/profile-open-badges';
import { createSchemaValidator, isEventType, type SchemaIssue } from './schema-validation.js';
import { offendingField } from '../../../test/support/fixtures.js';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const FIXTURES = resolve(REPO_ROOT, '../shared/fixtures/caliper');
// Reference material, not top-level describes (see the fixtures README).
const REFERENCE_FILES = new Set([
  'caliperEndpointConfigPayload.json',
  'caliperIdentifierSystemIdentifier.json',
  'caliperEntitySystemIdentifier.json',
  'caliperEntityTextPositionSelector.json',
]);

const validator = createSchemaValidator();

function readFixtures(directory: string): Array<[string, Record<string, unknown>]> {
  return readdirSync(join(FIXTURES, directory))
    .filter((name) => name.endsWith('.json') && !REFERENCE_FILES.has(name))
    .sort()
    .map((name) => [name, JSON.parse(readFileSync(join(FIXTURES, directory, name), 'utf8')) as Record<string, unknown>]);
}

function validateDescribe(item: Record<string, unknown>, version: 'v1p1' | 'v1p2'): SchemaIssue[] {
  return isEventType(item.type, version) ? validator.event(item, version) : validator.entity(item, version);
}

function validateEnvelope(envelope: Record<string, unknown>, version: 'v1p1' | 'v1p2'): SchemaIssue[] {
  const items = Array.isArray(envelope.data) ? (envelope.data as Array<Record<string, unknown>>) : [];
  return [
    ...validator.envelope(envelope),
    ...items.flatMap((item, index) => validateDescribe(item, version).map((issue) => ({ ...issue, pointer: `/data/${index}${issue.pointer}` }))),
  ];
}

const validFixtures = readFixtures('v1p2');
const invalidFixtures = readFixtures('v1p2-invalid');

describe('the Caliper 1.2 specification fixtures', () => {
  it('are all there', () => {
    expect(validFixtures.length).toBe(141);
    expect(invalidFixtures.length).toBe(170);
  });

  it.each(validFixtures)('accepts %s', (name, fixture) => {
    const issues = name.startsWith('caliperEnvelope') ? validateEnvelope(fixture, 'v1p2') : validateDescribe(fixture, 'v1p2');
    expect(issues).toEqual([]);
  });

  it.each(invalidFixtures)('rejects %s, naming the offending field', (name, fixture) => {
    const issues = name.startsWith('caliperEvent') ? validator.event(fixture, 'v1p2') : validator.entity(fixture, 'v1p2');
    const field = offendingField(name, fixture);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.some((issue) => issue.pointer === `/${field}` || issue.pointer.startsWith(`/${field}/`) || issue.reason.includes(field))).toBe(true);
  });
});

describe('reasons', () => {
  const viewEvent = validFixtures.find(([name]) => name === 'caliperEventViewViewedDocument.json')?.[1] ?? {};

  it('lists the actions of the event type when the action is wrong', () => {
    expect(validator.event({ ...viewEvent, action: 'Graded' }, 'v1p2')).toEqual([
      { pointer: '/action', reason: 'action must be one of the actions of ViewEvent: Viewed; got "Graded"' },
    ]);
  });

  it('reports an unknown event type once, at /type', () => {
    const issues = validator.event({ ...viewEvent, type: 'WatchEvent' }, 'v1p2');
    expect(issues).toHaveLength(1);
    expect(issues[0]?.pointer).toBe('/type');
    expect(issues[0]?.reason).toContain('"WatchEvent" is not a known Caliper v1p2 event type');
  });

  it('names the allowed entity types of a field', () => {
    const [issue] = validator.event({ ...viewEvent, actor: { id: 'https://example.edu/apps/1', type: 'SoftwareApplication' } }, 'v1p2');
    expect(issue).toEqual({ pointer: '/actor/type', reason: 'actor.type must be one of the entity types allowed here: Person; got "SoftwareApplication"' });
  });

  it('refuses properties outside the model, pointing at extensions', () => {
    const [issue] = validator.event({ ...viewEvent, score: 3 }, 'v1p2');
    expect(issue?.pointer).toBe('/score');
    expect(issue?.reason).toContain('extensions');
  });

  it('wants the Caliper context last in a context array', () => {
    const context = ['http://purl.imsglobal.org/ctx/caliper/v1p2', { query: 'http://schema.org/query' }];
    expect(validator.event({ ...viewEvent, '@context': context }, 'v1p2')).toEqual([
      expect.objectContaining({ pointer: '/@context' }),
    ]);
  });
});

describe('the envelope', () => {
  const envelope = {
    sensor: 'https://example.edu/sensors/1',
    sendTime: '2024-05-01T10:15:01.000Z',
    dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p2',
    data: [{ id: 'https://example.edu/users/554433', type: 'Person' }],
  };

  it('checks its own fields only', () => {
    expect(validator.envelope({ ...envelope, data: [{}] })).toEqual([]);
  });

  it.each([
    ['an extra field', { ...envelope, tenant: 'acme' }, '/tenant'],
    ['empty data', { ...envelope, data: [] }, '/data'],
    ['data items that are not objects', { ...envelope, data: ['urn:uuid:1'] }, '/data/0'],
    ['a sendTime without a time', { ...envelope, sendTime: '2024-05-01' }, '/sendTime'],
    ['an unsupported dataVersion', { ...envelope, dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p0' }, '/dataVersion'],
    ['no sensor', { sendTime: envelope.sendTime, dataVersion: envelope.dataVersion, data: envelope.data }, '/sensor'],
  ])('rejects %s', (_case, value, pointer) => {
    expect(validator.envelope(value).map((issue) => issue.pointer)).toContain(pointer);
  });
});

describe('Caliper 1.1', () => {
  const event11 = {
    '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p1',
    id: 'urn:uuid:ff9ec22a-fc59-4ae1-ae8d-2c9463ee2f8f',
    type: 'NavigationEvent',
    actor: { id: 'https://example.edu/users/554433', type: 'Person' },
    action: 'NavigatedTo',
    object: { id: 'https://example.edu/terms/201601/courses/7/sections/1/pages/2', type: 'WebPage', name: 'Learning Analytics Specifications' },
    eventTime: '2016-11-15T10:15:00.000Z',
    edApp: 'https://example.edu',
  };
  const envelope11 = {
    sensor: 'https://example.edu/sensors/1',
    sendTime: '2016-11-15T11:05:01.000Z',
    dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p1',
    data: [event11, { '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p1', id: 'https://example.edu/users/554433', type: 'Person' }],
  };

  it('accepts a 1.1 envelope with its events and entities', () => {
    expect(validateEnvelope(envelope11, 'v1p1')).toEqual([]);
  });

  it('keeps the required core of a 1.1 event', () => {
    const { actor: _actor, ...withoutActor } = event11;
    expect(validator.event(withoutActor, 'v1p1')).toEqual([expect.objectContaining({ pointer: '/actor' })]);
    expect(validator.event({ ...event11, eventTime: 'yesterday' }, 'v1p1')).toEqual([expect.objectContaining({ pointer: '/eventTime' })]);
  });

  it('knows the 1.1 event types, which are fewer', () => {
    expect(isEventType('NavigationEvent', 'v1p1')).toBe(true);
    expect(isEventType('SearchEvent', 'v1p1')).toBe(false);
    expect(isEventType('SearchEvent', 'v1p2')).toBe(true);
    expect(isEventType('BadgeEvent', 'v1p1')).toBe(true);
  });
});

describe('the Open Badges profile', () => {
  const examples = Object.entries(loadExamples()) as Array<[string, Record<string, unknown>]>;
  const issued = examples.find(([name]) => name === 'issued.json')?.[1] ?? {};
  const revoked = examples.find(([name]) => name === 'revoked.json')?.[1] ?? {};

  it('has one example per action', () => {
    expect(examples.map(([, example]) => example.action).sort()).toEqual(
      ['Accepted', 'Accessed', 'Applied', 'Assigned', 'Defined', 'Deleted', 'Demonstrated', 'Endorsed', 'Issued', 'Modified', 'Registered', 'Revoked', 'Shared', 'Verified'],
    );
  });

  it.each(examples)('accepts the example %s', (_name, example) => {
    expect(validator.event(example, 'v1p2')).toEqual([]);
  });

  it('rejects a Revoked without an embedded Assertion', () => {
    const issues = validator.event({ ...revoked, object: 'https://badges.example.edu/assertions/5f1c2a' }, 'v1p2');
    expect(issues).toEqual([expect.objectContaining({ pointer: '/object' })]);
    expect(issues[0]?.reason).toContain('Revoked requires the revoked Assertion');
  });

  it('rejects an Issued whose object is a BadgeClass', () => {
    const badgeClass = { id: 'https://badges.example.edu/badgeclasses/data-literacy', type: 'BadgeClass', name: 'Data Literacy' };
    expect(validator.event({ ...issued, object: badgeClass }, 'v1p2')).toContainEqual({
      pointer: '/object/type',
      reason: 'object.type must be "Assertion"; got "BadgeClass"',
    });
  });

  it('rejects an action the profile does not define', () => {
    const issues = validator.event({ ...issued, action: 'Awarded' }, 'v1p2');
    expect(issues).toEqual([expect.objectContaining({ pointer: '/action' })]);
    expect(issues[0]?.reason).toContain('actions of BadgeEvent: Defined, Issued');
  });

  it('checks the recipient identity of an Assertion', () => {
    const object = issued.object as Record<string, unknown>;
    const recipient = { type: 'email', identity: 'jane@example.edu', hashed: true };
    expect(validator.event({ ...issued, object: { ...object, recipient } }, 'v1p2')).toEqual([
      expect.objectContaining({ pointer: '/object/recipient/identity' }),
    ]);
  });

  it('checks the ims:TBAcaliperApi extension of a badge object', () => {
    const badgeClass = {
      '@context': ['https://w3id.org/badgestream/caliper/open-badges/v1', 'http://purl.imsglobal.org/ctx/caliper/v1p2'],
      id: 'https://badges.example.edu/badgeclasses/data-literacy',
      type: 'BadgeClass',
      'ims:TBAcaliperApi': { '@context': 'https://w3id.org/openbadges/extensions/caliper/context.json', '@id': 'https://badges.example.edu/caliper', actions: ['Bought'] },
    };
    expect(validator.entity(badgeClass, 'v1p2')).toEqual([expect.objectContaining({ pointer: '/ims:TBAcaliperApi/actions/0' })]);
  });
});
