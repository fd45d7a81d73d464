import { describe, expect, it } from 'vitest';
import { csvRecordCounter, jsonArrayCounter } from './download.js';

/** Feeds the text in pieces of every size from 1 to 7 characters, as chunks may split it anywhere. */
function countInPieces(make: () => { feed(chunk: string): void; readonly count: number }, text: string): number[] {
  return [1, 2, 3, 5, 7, text.length].map((size) => {
    const counter = make();
    for (let i = 0; i < text.length; i += size) counter.feed(text.slice(i, i + size));
    return counter.count;
  });
}

describe('csvRecordCounter', () => {
  it('counts records after the header, line breaks and quotes inside fields included', () => {
    const csv = 'bucket,action,events\r\n2026-01-01T00:00:00.000Z,Issued,3\r\n"a, ""quoted""\r\nfield",Shared,1\r\n';
    expect(countInPieces(csvRecordCounter, csv)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(countInPieces(csvRecordCounter, 'bucket,action,events\r\n')).toEqual([0, 0, 0, 0, 0, 0]);
    expect(csvRecordCounter().count).toBe(0);
  });
});

describe('jsonArrayCounter', () => {
  it('counts the objects of a JSON array, whatever their strings and nested values hold', () => {
    const statements = [
      { id: '1', actor: { account: { name: 'a{[b' } }, object: { definition: { name: { en: 'say "}" ]' } } } },
      { id: '2', context: { extensions: { 'https://x/y': ['{', { k: '\\' }] } } },
      { id: '3' },
    ];
    expect(countInPieces(jsonArrayCounter, JSON.stringify(statements))).toEqual([3, 3, 3, 3, 3, 3]);
    expect(countInPieces(jsonArrayCounter, '[]')).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
