import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { BadgestreamError } from '@badgestream/platform';
import { startProgress } from './progress.js';

/** Counts what a download holds as it arrives, chunk by chunk. */
export interface ItemCounter {
  feed(chunk: string): void;
  readonly count: number;
}

/** Records of CSV as the reporting service writes it (RFC 4180): line breaks outside quotes, less the header row. */
export function csvRecordCounter(): ItemCounter {
  let quoted = false;
  let lines = 0;
  return {
    feed(chunk) {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk.charCodeAt(i);
        // A doubled quote inside a quoted field toggles twice: the state stays right.
        if (c === 34) quoted = !quoted;
        else if (c === 10 && !quoted) lines++;
      }
    },
    get count() {
      return Math.max(0, lines - 1);
    },
  };
}

/** Elements of a JSON array of objects (xAPI statements): objects opened at depth one. */
export function jsonArrayCounter(): ItemCounter {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let items = 0;
  return {
    feed(chunk) {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i];
        if (inString) {
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '[' || c === '{') {
          if (c === '{' && depth === 1) items++;
          depth++;
        } else if (c === ']' || c === '}') depth--;
      }
    },
    get count() {
      return items;
    },
  };
}

export interface DownloadOptions {
  url: string;
  token: string;
  /** A file (written as FILE.part, renamed once complete), or undefined for stdout. */
  out?: string | undefined;
  label: string;
  /** What the items are called ("rows", "statements") and how they are counted; none for JSON reports. */
  items?: { name: string; counter: ItemCounter };
}

/**
 * Downloads from a Badgestream API with a progress display on stderr: bytes received of the
 * Content-Length when the server sends one, and the items counted so far.
 */
export async function download(options: DownloadOptions): Promise<{ bytes: number; items: number }> {
  const response = await fetch(options.url, { headers: { authorization: `Bearer ${options.token}` } }).catch((error: unknown) => {
    const reason = ((error as { cause?: Error }).cause ?? (error as Error)).message;
    throw new BadgestreamError(`cannot reach ${new URL(options.url).origin}: ${reason}`, { code: 'DOWNLOAD_UNREACHABLE', retriable: true, cause: error });
  });
  if (!response.ok || !response.body) throw new BadgestreamError(`${options.url} answered ${response.status}: ${await problemDetail(response)}`, { code: 'DOWNLOAD_REFUSED', retriable: response.status >= 500 });
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isInteger(length) && length >= 0 ? length : undefined;
  const part = options.out === undefined ? undefined : `${options.out}.part`;
  const sink: Writable = part === undefined ? process.stdout : createWriteStream(part);
  const progress = startProgress({ label: options.label, unit: 'bytes' });
  const decoder = new TextDecoder();
  let bytes = 0;
  const { items } = options;
  const figures = () => ({ done: bytes, total, detail: items && `${items.counter.count.toLocaleString('en-US')} ${items.name}` });
  try {
    for await (const chunk of response.body) {
      bytes += chunk.byteLength;
      items?.counter.feed(decoder.decode(chunk, { stream: true }));
      if (!sink.write(chunk)) await once(sink, 'drain');
      progress.update(figures());
    }
    if (total !== undefined && bytes !== total) throw new BadgestreamError(`the download ended after ${bytes} of ${total} bytes`, { code: 'DOWNLOAD_INCOMPLETE', retriable: true });
    if (part !== undefined) {
      sink.end();
      await once(sink, 'finish');
      await rename(part, options.out!);
    }
  } catch (error) {
    if (part !== undefined) {
      sink.destroy();
      await rm(part, { force: true });
    }
    throw error;
  } finally {
    progress.stop(figures());
  }
  return { bytes, items: items?.counter.count ?? 0 };
}

async function problemDetail(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const problem = JSON.parse(text) as { title?: string; detail?: string };
    return [problem.title, problem.detail].filter(Boolean).join(': ') || text;
  } catch {
    return text.slice(0, 300);
  }
}
