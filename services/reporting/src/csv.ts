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
 * Streams rows as CSV with a header row (the columns given, else the keys of the first row),
 * in chunks, waiting for the client to drain what it was sent.
 */
export async function streamCsv(res: Response, filename: string, columns: readonly string[], rows: Iterable<Record<string, unknown>>): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  let chunk = csvLine(columns);
  for (const row of rows) {
    chunk += csvLine(columns.map((c) => row[c]));
    if (chunk.length >= 64 * 1024) {
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
      chunk = '';
    }
  }
  res.end(chunk);
}
