import { describe, expect, it } from 'vitest';
import { readReportingExtension, reportedObjectIris, withReportingExtension } from './reporting-extension.js';

const CONTEXT = 'https://w3id.org/openbadges/extensions/caliper/context.json';

describe('the ims:TBAcaliperApi extension', () => {
  it('decorates a badge object and reads back the endpoint and actions', () => {
    const decorated = withReportingExtension({ id: 'https://issuer.example/badges/1', type: 'BadgeClass', name: 'One' }, { endpoint: 'https://bgs.example/caliper', actions: ['Verified', 'Shared'] });
    expect(decorated).toMatchObject({ name: 'One', 'ims:TBAcaliperApi': { '@context': CONTEXT, '@id': 'https://bgs.example/caliper', actions: ['Verified', 'Shared'] } });
    expect(readReportingExtension(decorated)).toEqual({ kind: 'found', endpoint: { endpoint: 'https://bgs.example/caliper', actions: ['Verified', 'Shared'] } });
  });

  it('says what is wrong with an unusable extension, and when there is none', () => {
    expect(readReportingExtension({ id: 'x' })).toEqual({ kind: 'absent' });
    const bad = (ext: unknown) => readReportingExtension({ id: 'https://i.example/b', 'ims:TBAcaliperApi': ext });
    expect(bad({ '@context': 'https://other.example', '@id': 'https://e.example', actions: ['Verified'] })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('@context') });
    expect(bad({ '@context': CONTEXT, '@id': 'ftp://e.example', actions: ['Verified'] })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('http(s)') });
    expect(bad({ '@context': CONTEXT, '@id': 'https://e.example', actions: [] })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('non-empty') });
    expect(bad({ '@context': CONTEXT, '@id': 'https://e.example', actions: ['Verified', 'Liked'] })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('"Liked"') });
  });

  it('follows an embedded assertion to its badge class and issuer', () => {
    expect(reportedObjectIris('https://i.example/a/1')).toEqual(['https://i.example/a/1']);
    expect(reportedObjectIris({ id: 'https://i.example/a/1', type: 'Assertion', badge: { id: 'https://i.example/b/1', type: 'BadgeClass', issuer: 'https://i.example/issuer' } })).toEqual([
      'https://i.example/a/1',
      'https://i.example/b/1',
      'https://i.example/issuer',
    ]);
  });
});
