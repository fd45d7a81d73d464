import { SingleBar } from 'cli-progress';

/** How far a long operation got, in one unit (events, dead letters, bytes). */
export interface ProgressFigures {
  done: number;
  /** Units in all; undefined while nobody knows (no bar is drawn then, only the count). */
  total?: number | undefined;
  /** A few words after the figures: "2/4 partitions", "waiting for the criteria consumer". */
  detail?: string | undefined;
}

export interface ProgressOptions {
  /** What is going on: "backfill", "replay". */
  label: string;
  /** The unit counted, plural ("events", "dead letters"); "bytes" is shown as kB, MB, GB. */
  unit: string;
  /** Where the bar goes: stderr, so that stdout stays the command's result. */
  stream?: NodeJS.WriteStream;
  /** When the stream is not a terminal (CI, a pipe): one plain line this often, and at the end. */
  plainEveryMs?: number;
  /** The figures to show first. */
  initial?: ProgressFigures;
}

/** A progress display started by startProgress. */
export interface Progress {
  update(figures: ProgressFigures): void;
  /** Prints a line of the command's result on stdout without tearing the bar. */
  print(line: string): void;
  /** Draws the last figures (these, when given) and stops; the process may exit after. */
  stop(figures?: ProgressFigures): void;
}

const BAR_WIDTH = 30;

/**
 * The one progress display of the CLI, on stderr: a cli-progress bar on a terminal, and plain
 * periodic lines (every `plainEveryMs`, and a last one) anywhere else, so that logs of CI jobs and
 * pipes get readable figures instead of escape codes. The figures are whatever the command counted;
 * the bar is drawn only over a known total, and an ETA only once the rate is measured.
 */
export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  let figures: ProgressFigures = options.initial ?? { done: 0 };
  const bar = new SingleBar({
    stream,
    noTTYOutput: true,
    notTTYSchedule: options.plainEveryMs ?? 5000,
    // A terminal keeps the last bar; elsewhere every line already ended with a newline.
    clearOnComplete: !tty,
    forceRedraw: tty,
    hideCursor: tty,
    barsize: BAR_WIDTH,
    etaBuffer: 20,
    format: (_options, params) =>
      describeProgress(options.label, options.unit, figures, {
        bar: tty,
        ...(Number.isFinite(params.eta) && params.eta > 0 && figures.total !== undefined && figures.done > 0 ? { etaSeconds: params.eta } : {}),
      }),
  });
  // The bar's own total only drives the ETA; the figures are what is shown.
  bar.start(1, 0);
  let stopped = false;
  // On a terminal the bar hides the cursor and line wrapping until it stops: an interrupt stops it
  // first, then takes its usual course.
  const interrupted = (signal: NodeJS.Signals) => {
    stop();
    process.kill(process.pid, signal);
  };
  if (tty) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, interrupted);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeListener(signal, interrupted);
    bar.stop();
  };
  const apply = (next: ProgressFigures) => {
    figures = next;
    if (next.total !== undefined && next.total > 0) {
      bar.setTotal(next.total);
      bar.update(Math.min(next.done, next.total));
    } else {
      bar.update(0);
    }
  };
  return {
    update(next) {
      if (!stopped) apply(next);
    },
    print(line) {
      if (stopped || !tty) return void process.stdout.write(`${line}\n`);
      stream.write('\r\x1b[2K');
      process.stdout.write(`${line}\n`);
      bar.render();
    },
    stop(last) {
      if (stopped) return;
      if (last) apply(last);
      stop();
    },
  };
}

/**
 * One line of progress: `label [bar] 52% 1,234/2,345 events, 2/4 partitions, ETA 12s`, the bar only
 * for a terminal, the percentage and bar only over a known total.
 */
export function describeProgress(label: string, unit: string, figures: ProgressFigures, style: { bar?: boolean; etaSeconds?: number } = {}): string {
  const { done, total, detail } = figures;
  const parts: string[] = [];
  if (total !== undefined && total > 0) {
    const ratio = Math.min(1, Math.max(0, done / total));
    if (style.bar) {
      const filled = Math.floor(ratio * BAR_WIDTH);
      parts.push(`[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}]`);
    }
    parts.push(`${Math.floor(ratio * 100)}%`);
    parts.push(`${amount(done, unit)}/${amount(total, unit)}${unitName(unit)}`);
  } else if (total === 0) {
    parts.push(`nothing to go through`);
  } else {
    parts.push(`${amount(done, unit)}${unitName(unit)}`);
  }
  let line = `${label}: ${parts.join(' ')}`;
  if (detail) line += `, ${detail}`;
  if (style.etaSeconds !== undefined && total !== undefined && done < total) line += `, ETA ${duration(style.etaSeconds)}`;
  return line;
}

function amount(n: number, unit: string): string {
  if (unit !== 'bytes') return n.toLocaleString('en-US');
  if (n < 1000) return `${n} B`;
  const [size, suffix] = n < 1e6 ? [n / 1e3, 'kB'] : n < 1e9 ? [n / 1e6, 'MB'] : [n / 1e9, 'GB'];
  return `${size.toFixed(1)} ${suffix}`;
}

/** The unit after a figure: none for bytes, whose figures carry it. */
function unitName(unit: string): string {
  return unit === 'bytes' ? '' : ` ${unit}`;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
