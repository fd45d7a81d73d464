import { describe, expect, it } from 'vitest';
import { PollLoop } from './poll-loop.js';

describe('PollLoop', () => {
  it('runs again at once when nudged during a round that found nothing, instead of waiting a poll', async () => {
    const rounds: number[] = [];
    let release!: () => void;
    const secondRound = new Promise<void>((resolve) => (release = resolve));
    const loop: PollLoop = new PollLoop(
      async () => {
        rounds.push(rounds.length + 1);
        if (rounds.length === 1) loop.nudge(); // work arrives while the first round looks
        if (rounds.length === 2) release();
        return false;
      },
      60_000,
      (error) => {
        throw error;
      },
    );
    loop.start();
    await Promise.race([secondRound, new Promise((_, reject) => setTimeout(() => reject(new Error('the second round waited for the poll interval')), 2000))]);
    await loop.stop();
    expect(rounds.slice(0, 2)).toEqual([1, 2]);
  });

  it('waits the poll interval after a round that found nothing, unless nudged; a round that progressed is followed at once', async () => {
    let calls = 0;
    const loop = new PollLoop(async () => ++calls <= 3, 60_000, () => undefined);
    loop.start();
    await new Promise((r) => setTimeout(r, 100));
    // Three rounds with progress, then one without: the loop now waits.
    expect(calls).toBe(4);
    loop.nudge();
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(5);
    await loop.stop();
  });
});
