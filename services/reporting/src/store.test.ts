import { describe, expect, it } from 'vitest';
import { sliceCounts } from './store.js';

describe('whether a slice counts', () => {
  const checkpoint = { offset: 299, owners: [{ owner: 'a', from: 0 }, { owner: 'b', from: 200 }] };

  it('counts complete slices written by the owner of their offsets', () => {
    expect(sliceCounts({ fromOffset: 0, toOffset: 199, owner: 'a' }, checkpoint)).toBe(true);
    expect(sliceCounts({ fromOffset: 200, toOffset: 299, owner: 'b' }, checkpoint)).toBe(true);
  });

  it('does not count a slice beyond the checkpoint (its writer stopped before moving it)', () => {
    expect(sliceCounts({ fromOffset: 300, toOffset: 350, owner: 'b' }, checkpoint)).toBe(false);
    expect(sliceCounts({ fromOffset: 0, toOffset: 10, owner: 'a' }, undefined)).toBe(false);
  });

  it('does not count a slice written by an instance after another took the partition over', () => {
    expect(sliceCounts({ fromOffset: 200, toOffset: 260, owner: 'a' }, checkpoint)).toBe(false);
  });
});
