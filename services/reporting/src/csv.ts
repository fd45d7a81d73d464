import type { Response } from 'express';

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; empty for null. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/**
 * Sends rows as CSV with a header row of the columns given, with its Content-Length (so that a
 * client can show how far a download got), in chunks, waiting for the client to drain what it was
 * sent.
 */
export async function streamCsv(res: Response, filename: string, columns: readonly string[], rows: readonly Record<string, unknown>[]): Promise<void> {
  const lines = [csvLine(columns), ...rows.map((row) => csvLine(columns.map((c) => row[c])))];
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.setHeader('Content-Length', lines.reduce((bytes, line) => bytes + Buffer.byteLength(line), 0));
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 64 * 1024) {
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
      chunk = '';
    }
  }
  res.end(chunk);
}
