import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningReporting } from '@badgestream/reporting';
import { generateHistory, type GeneratedEvent } from '../support/reporting-history.js';
import { getReport, parseCsv, startReportingOverHistory, type ReportingOverHistory } from '../support/reporting.js';
import { uniqueName } from '../support/stack.js';
import { badgestreamCli, type CliResult } from '../support/cli.js';

/**
 * `badgestream reports export`: downloads from the reporting API with progress on stderr, run as
 * the operator runs it (a process of its own, from the sources); the files are what the API gives.
 */

let running: ReportingOverHistory;
let reporting: RunningReporting;
let reader: string;
let events: GeneratedEvent[];
let dir: string;
const tenant = uniqueName('export');
const RANGE = { from: '2025-01-01', to: '2027-01-01' };

function badgestream(...args: string[]): Promise<CliResult> {
  return badgestreamCli(args, { env: { ...process.env, REPORTING_URL: reporting.url, BADGESTREAM_TOKEN: reader }, timeoutMs: 60_000, fromSource: true });
}

beforeAll(async () => {
  events = generateHistory({ tenant, events: 3_000, seed: 23 });
  running = await startReportingOverHistory('reporting-export', tenant, events);
  ({ reporting, reader } = running);
  dir = await mkdtemp(path.join(tmpdir(), 'reports-export-'));
});

afterAll(async () => {
  await running?.close();
});

/** The progress lines a command wrote to stderr. */
const progressLines = (stderr: string, label: string) => stderr.split('\n').filter((l) => l.startsWith(`${label}: `));

describe('badgestream reports export', () => {
  it('downloads a report as CSV with its size known up front: the bar reaches the Content-Length, the rows counted are the rows of the file', async () => {
    const direct = await fetch(`${reporting.url}/reports/counts?${new URLSearchParams({ ...RANGE, groupBy: 'day', format: 'csv' }).toString()}`, { headers: { authorization: `Bearer ${reader}` } });
    const body = Buffer.from(await direct.arrayBuffer());
    expect(Number(direct.headers.get('content-length'))).toBe(body.length);
    const rows = parseCsv(body.toString('utf8')).length - 1;
    expect(rows).toBeGreaterThan(10);

    const out = path.join(dir, 'counts.csv');
    const result = await badgestream('reports', 'export', 'counts', '--from', RANGE.from, '--to', RANGE.to, '--param', 'groupBy=day', '--out', out);
    expect(result.code).toBe(0);
    expect(await readFile(out)).toEqual(body);
    expect(result.stdout).toBe(`wrote ${rows} rows, ${body.length} bytes to ${out}\n`);
    const progress = progressLines(result.stderr, 'counts export');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatch(new RegExp(`^counts export: 100% \\S+ [k]?B/\\S+ [k]?B, ${rows.toLocaleString('en-US')} rows$`));
    expect(await readdir(dir)).not.toContain('counts.csv.part');
  });

  it('downloads the xAPI statements, counting them as they arrive (no total is known before the end)', async () => {
    const badgeEvents = events.filter((e) => e.known.badge).length;
    const out = path.join(dir, 'statements.json');
    const result = await badgestream('reports', 'export', 'xapi', '--from', RANGE.from, '--to', RANGE.to, '--out', out);
    expect(result.code).toBe(0);
    const statements = JSON.parse(await readFile(out, 'utf8')) as unknown[];
    expect(statements).toHaveLength(badgeEvents);
    const bytes = (await readFile(out)).length;
    expect(result.stdout).toBe(`wrote ${badgeEvents} statements, ${bytes} bytes to ${out}\n`);
    const last = progressLines(result.stderr, 'xapi export').at(-1)!;
    // A count without a bar or a percentage: the server does not say how much will come.
    expect(last).toMatch(new RegExp(`^xapi export: [\\d.]+ [kM]?B, ${badgeEvents.toLocaleString('en-US')} statements$`));
  });

  it('writes to stdout without --out, keeps progress on stderr, and says what the API refused', async () => {
    const json = await badgestream('reports', 'export', 'ratios', '--from', RANGE.from, '--to', RANGE.to, '--format', 'json');
    expect(json.code).toBe(0);
    const direct = await getReport(reporting.url, '/reports/ratios', reader, RANGE);
    expect(JSON.parse(json.stdout)).toEqual(direct.body);
    expect(progressLines(json.stderr, 'ratios export').at(-1)).toMatch(/^ratios export: 100% /);

    const refused = await badgestream('reports', 'export', 'counts', '--from', RANGE.to, '--to', RANGE.from, '--out', path.join(dir, 'refused.csv'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('answered 400: The query cannot be answered as asked');
    expect(await readdir(dir)).not.toContain('refused.csv');
    expect(await badgestream('reports', 'export', 'nonsense', '--from', RANGE.from, '--to', RANGE.to)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown export "nonsense"') as string,
    });
  });
});
