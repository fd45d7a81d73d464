import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeProgress, startProgress } from './progress.js';

describe('describeProgress', () => {
  it('shows the figures over a known total, with the bar only for a terminal', () => {
    expect(describeProgress('backfill', 'events', { done: 1234, total: 2468, detail: '2/4 partitions' })).toBe('backfill: 50% 1,234/2,468 events, 2/4 partitions');
    const line = describeProgress('backfill', 'events', { done: 1, total: 3 }, { bar: true });
    expect(line).toMatch(/^backfill: \[█{10}░{20}\] 33% 1\/3 events$/);
  });

  it('shows only the count while the total is unknown, and says when there is nothing to do', () => {
    expect(describeProgress('export', 'bytes', { done: 2_500_000 }, { bar: true })).toBe('export: 2.5 MB');
    expect(describeProgress('export', 'bytes', { done: 512, total: 4096 })).toBe('export: 12% 512 B/4.1 kB');
    expect(describeProgress('backfill', 'events', { done: 0, total: 0, detail: '4/4 partitions' })).toBe('backfill: nothing to go through, 4/4 partitions');
  });

  it('adds an ETA only while work is left', () => {
    expect(describeProgress('replay', 'dead letters', { done: 10, total: 100 }, { etaSeconds: 125 })).toBe('replay: 10% 10/100 dead letters, ETA 2m05s');
    expect(describeProgress('replay', 'dead letters', { done: 100, total: 100 }, { etaSeconds: 3 })).toBe('replay: 100% 100/100 dead letters');
    expect(describeProgress('replay', 'dead letters', { done: 150, total: 100 })).toBe('replay: 100% 150/100 dead letters');
  });
});

/** A stream that is not a terminal, keeping what was written. */
function plainStream(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

describe('startProgress off a terminal', () => {
  afterEach(() => void vi.useRealTimers());

  it('writes plain lines periodically and a last one, never escape codes, and leaves stdout alone', () => {
    vi.useFakeTimers();
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const { stream, text } = plainStream();
    const progress = startProgress({ label: 'replay', unit: 'dead letters', stream, plainEveryMs: 1000 });
    progress.update({ done: 3, total: 10 });
    vi.advanceTimersByTime(1000);
    progress.update({ done: 7, total: 10 });
    vi.advanceTimersByTime(1000);
    progress.stop({ done: 10, total: 10 });
    progress.update({ done: 11, total: 10 });
    vi.advanceTimersByTime(5000);
    expect(stdout).not.toHaveBeenCalled();
    stdout.mockRestore();

    const lines = text().split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1)).toEqual(['replay: 0 dead letters', 'replay: 30% 3/10 dead letters', expect.stringMatching(/^replay: 70% 7\/10 dead letters, ETA \ds$/), 'replay: 100% 10/10 dead letters']);
    expect(text()).not.toContain('\x1b');
  });

  it('prints result lines on stdout', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const { stream, text } = plainStream();
    const progress = startProgress({ label: 'replay', unit: 'dead letters', stream });
    progress.print('replayed\tcaliper.events@12');
    progress.stop();
    expect(stdout).toHaveBeenCalledWith('replayed\tcaliper.events@12\n');
    stdout.mockRestore();
    expect(text()).not.toContain('replayed\t');
  });
});
