import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RunningReporting } from '@badgestream/reporting';
import { REPO_ROOT, uniqueName } from '../support/stack.js';
import { badgeClassIri, generateHistory, type GeneratedEvent } from '../support/reporting-history.js';
import { getReport, startReportingOverHistory, type ReportingOverHistory } from '../support/reporting.js';

/**
 * The issuer page in Debian's Chromium, against a reporting service on the real stack counting a
 * generated year of one tenant's events (and a few of another tenant): what the page shows, as
 * text and as charts, is what the reporting API answers the tenant's reader key; the badge class
 * filter changes it; the API's problems are shown as they are. A screenshot of the page is left in
 * test-output/issuer-page.png.
 */

const CHROMIUM = '/usr/bin/chromium';
// Without these, Chromium on a machine without network waits on connections it tries at start.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = path.join(REPO_ROOT, 'test-output', 'issuer-page.png');
const YEAR = { from: '2025-01-01', to: '2026-01-01' };
const MONTHS = Array.from({ length: 12 }, (_, m) => `2025-${String(m + 1).padStart(2, '0')}`);
const BADGE_ACTIONS = ['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Accessed', 'Verified', 'Accepted', 'Revoked'];
const CONSUMER_ACTIONS = ['Shared', 'Accessed', 'Verified', 'Accepted'];
// The page's colours of Issued and Verified (issuer-page.js).
const ISSUED_RGB = [0x25, 0x63, 0xeb] as const;
const VERIFIED_RGB = [0x0d, 0x94, 0x88] as const;

/** What the page's script sees of Chart.js, for reading charts back through page.evaluate. */
interface ChartInPage {
  data: { labels: string[]; datasets: { label: string; data: number[] }[] };
  canvas: { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
}
type PageGlobals = { Chart: { getChart(id: string): ChartInPage | undefined } };

interface Total {
  action: string;
  events: number;
  recipients: number;
  actors: number;
}

let running: ReportingOverHistory;
let reporting: RunningReporting;
let browser: Browser;
let reader: string;
let history: GeneratedEvent[];
const tenant = uniqueName('issuer-page');
const contexts: BrowserContext[] = [];

// Every test in the browser fails with this, so a machine without Chromium cannot pass them quietly.
const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed (${CHROMIUM} is missing); the issuer page is tested in it. Install it with: apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium`;

beforeAll(async () => {
  history = generateHistory({ tenant, events: 3_000, seed: 41 });
  running = await startReportingOverHistory('issuer-page', tenant, history, generateHistory({ tenant: uniqueName('issuer-page-other'), events: 400, seed: 42 }));
  ({ reporting, reader } = running);

  if (!CHROMIUM_MISSING) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await running?.close();
});

/** A fresh tab (its own session storage), recording the errors the page logs or throws. */
async function openPage(): Promise<{ page: Page; errors: string[] }> {
  if (CHROMIUM_MISSING) throw new Error(CHROMIUM_MISSING);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', reducedMotion: 'reduce' });
  contexts.push(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => void (message.type() === 'error' && errors.push(`${message.text()} (${message.location().url})`)));
  return { page, errors };
}

async function enterKey(page: Page, key: string): Promise<void> {
  await page.getByLabel('Reader API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Show reports' }).click();
}

/** Waits until the page has drawn the figures it says it shows. */
async function shown(page: Page, status: string): Promise<void> {
  await page.getByRole('status').filter({ hasText: status }).waitFor({ timeout: 30_000 });
  await page.locator('main[aria-busy="false"]').waitFor({ timeout: 30_000 });
}

const asNumber = (text: string) => Number(text.replace(/,/g, ''));

async function totalsShown(page: Page): Promise<Total[]> {
  const rows = await page.locator('#totals tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from((tr as unknown as { cells: ArrayLike<{ textContent: string }> }).cells, (c) => c.textContent)));
  return rows.map(([action, events, recipients, actors]) => ({ action: action!, events: asNumber(events!), recipients: asNumber(recipients!), actors: asNumber(actors!) }));
}

async function headline(page: Page, term: string): Promise<string> {
  return (
    (await page
      .locator('#headline div')
      .filter({ has: page.locator('dt', { hasText: term }) })
      .locator('dd')
      .textContent()) ?? ''
  );
}

async function chart(page: Page, id: string): Promise<{ labels: string[]; datasets: { label: string; data: number[] }[] } | undefined> {
  return page.evaluate((id) => {
    const c = (globalThis as unknown as PageGlobals).Chart.getChart(id);
    return c && { labels: [...c.data.labels], datasets: c.data.datasets.map((d) => ({ label: d.label, data: [...d.data] })) };
  }, id);
}

/** Pixels of the chart's canvas painted in (nearly) this colour: the chart drew its data, not only its axes. */
async function paintedWith(page: Page, id: string, rgb: readonly [number, number, number]): Promise<number> {
  return page.evaluate(
    ([id, rgb]) => {
      const canvas = (globalThis as unknown as PageGlobals).Chart.getChart(id)!.canvas;
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i + 3]! > 200 && Math.abs(px[i]! - rgb[0]) + Math.abs(px[i + 1]! - rgb[1]) + Math.abs(px[i + 2]! - rgb[2]) < 24) n++;
      return n;
    },
    [id, rgb] as const,
  );
}

async function api(kind: string, params: Record<string, string>): Promise<Record<string, unknown> & { rows: Record<string, unknown>[] }> {
  const answer = await getReport(reporting.url, `/reports/${kind}`, reader, params);
  expect(answer.status, answer.text).toBe(200);
  return answer.body as Record<string, unknown> & { rows: Record<string, unknown>[] };
}

describe('the issuer page', () => {
  it('is served without a key, with a content security policy, while the reports still need one', async () => {
    for (const [url, type] of [
      ['/', 'text/html'],
      ['/assets/issuer-page.js', 'javascript'],
      ['/assets/issuer-page.css', 'text/css'],
      ['/assets/chart.umd.min.js', 'javascript'],
    ] as const) {
      const response = await fetch(`${reporting.url}${url}`);
      expect(response.status, url).toBe(200);
      expect(response.headers.get('content-type'), url).toContain(type);
      expect(response.headers.get('content-security-policy'), url).toContain("script-src 'self'");
    }
    const dashboard = await fetch(`${reporting.url}/dashboard`, { redirect: 'manual' });
    expect([dashboard.status, dashboard.headers.get('location')]).toEqual([302, '/']);
    const missing = await fetch(`${reporting.url}/assets/nothing.js`);
    expect([missing.status, missing.headers.get('content-type')]).toEqual([404, expect.stringContaining('application/problem+json')]);
    expect((await getReport(reporting.url, '/reports/funnel', undefined, YEAR)).status).toBe(401);
  });

  it("draws the tenant's figures for the year: the summary as text, actions over time, the funnel, top badge classes and consumers", async () => {
    const { page, errors } = await openPage();
    await page.goto(`${reporting.url}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/');
    await enterKey(page, reader);
    await shown(page, `Tenant ${tenant}: all badge classes`);
    await page.getByLabel('From', { exact: true }).fill('2025-01-01');
    await page.getByLabel('Through', { exact: true }).fill('2025-12-31');
    await page.getByLabel('Bucket', { exact: true }).selectOption('month');
    await shown(page, 'all badge classes, 2025-01-01 to 2025-12-31 (UTC), by month.');

    const counts = await api('counts', { ...YEAR, groupBy: 'month', distinct: 'true' });
    const totals = counts.totals as Total[];
    expect(await totalsShown(page)).toEqual(totals);
    // The figures are the tenant's own, as generated: the other tenant's events are not in them.
    const issuedIn2025 = history.filter((e) => e.known.action === 'Issued' && e.known.time < Date.parse('2026-01-01T00:00:00Z')).length;
    expect(totals.find((t) => t.action === 'Issued')?.events).toBe(issuedIn2025);
    expect(await headline(page, 'Badges issued')).toBe(issuedIn2025.toLocaleString('en-US'));
    const acceptance = (await api('ratios', YEAR)).rows.find((r) => r.ratio === 'acceptanceRate')!.value as number;
    expect(await headline(page, 'Acceptance rate')).toBe(new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 }).format(acceptance));

    const actions = await chart(page, 'actions-chart');
    expect(actions?.labels).toEqual(MONTHS);
    const charted = BADGE_ACTIONS.filter((a) => totals.some((t) => t.action === a));
    expect(charted).toEqual(expect.arrayContaining(['Issued', 'Shared', 'Verified', 'Accepted']));
    expect(actions?.datasets.map((d) => d.label)).toEqual(charted);
    const monthly = counts.rows as { bucket: string; action: string; events: number }[];
    for (const d of actions!.datasets) {
      expect(d.data, d.label).toEqual(MONTHS.map((m) => monthly.find((r) => r.action === d.label && r.bucket.startsWith(m))?.events ?? 0));
    }

    const funnel = (await api('funnel', YEAR)).rows;
    expect(await chart(page, 'funnel-chart')).toEqual({ labels: funnel.map((r) => r.stage), datasets: [{ label: 'recipients', data: funnel.map((r) => r.recipients) }] });

    const top = (await api('top-badges', { ...YEAR, by: 'Issued', limit: '100' })).rows as { badgeClass: string; value: number }[];
    expect(top.length).toBeGreaterThan(3);
    expect(await chart(page, 'top-badges-chart')).toEqual({
      labels: top.slice(0, 10).map((r) => r.badgeClass.split('/').pop()),
      datasets: [{ label: 'badges issued', data: top.slice(0, 10).map((r) => r.value) }],
    });
    const choices = await page
      .getByLabel('Badge class', { exact: true })
      .locator('option')
      .evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    expect(choices).toEqual(['', ...top.map((r) => r.badgeClass)]);

    // Consumers by application (backpacks, verifiers), else by actor (employers, viewers): the ten most active.
    const consumerRows = (await api('consumers', { ...YEAR, action: CONSUMER_ACTIONS.join(',') })).rows as { action: string; actor: string; edApp: string; events: number }[];
    const byWho = new Map<string, Map<string, number>>();
    for (const r of consumerRows) {
      const who = byWho.get(r.edApp || r.actor) ?? new Map<string, number>();
      who.set(r.action, (who.get(r.action) ?? 0) + r.events);
      byWho.set(r.edApp || r.actor, who);
    }
    const sum = (m: Map<string, number>) => [...m.values()].reduce((n, v) => n + v, 0);
    const topWho = [...byWho].sort((a, b) => sum(b[1]) - sum(a[1]) || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    const consumers = await chart(page, 'consumers-chart');
    expect(consumers?.labels).toEqual(topWho.map(([who]) => new URL(who).host + (new URL(who).pathname === '/' ? '' : new URL(who).pathname)));
    expect(consumers?.labels).toEqual(expect.arrayContaining(['backpack.example.net', 'verify.example.org', 'careers.example.com']));
    expect(consumers?.datasets.map((d) => d.label)).toEqual(CONSUMER_ACTIONS.filter((a) => topWho.some(([, m]) => (m.get(a) ?? 0) > 0)));
    for (const d of consumers!.datasets) expect(d.data, d.label).toEqual(topWho.map(([, m]) => m.get(d.label) ?? 0));

    // Drawn, not only configured: each chart's canvas carries its data's colours.
    for (const id of ['actions-chart', 'funnel-chart', 'top-badges-chart']) expect(await paintedWith(page, id, ISSUED_RGB), id).toBeGreaterThan(50);
    expect(await paintedWith(page, 'consumers-chart', VERIFIED_RGB)).toBeGreaterThan(50);

    await page.getByLabel('Through', { exact: true }).blur();
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });

  it('shows one badge class when it is chosen, and keeps the key and the filters on reload', async () => {
    const { page, errors } = await openPage();
    await page.goto(`${reporting.url}/#from=2025-01-01&through=2025-12-31&groupBy=month`);
    await enterKey(page, reader);
    await shown(page, 'all badge classes, 2025-01-01 to 2025-12-31');
    const all = await totalsShown(page);

    const b0 = badgeClassIri(0);
    await page.getByLabel('Badge class', { exact: true }).selectOption(b0);
    await shown(page, `badge class ${b0}, 2025-01-01 to 2025-12-31`);
    const summary = await api('summary', { ...YEAR, badgeClass: b0 });
    const shownForB0 = await totalsShown(page);
    expect(shownForB0).toEqual(summary.rows);
    expect(shownForB0).not.toEqual(all);
    const issued = (summary.rows as unknown as Total[]).find((r) => r.action === 'Issued')!.events;
    expect(await headline(page, 'Badges issued')).toBe(issued.toLocaleString('en-US'));
    const funnel = summary.funnel as { stage: string; recipients: number }[];
    expect((await chart(page, 'funnel-chart'))?.datasets[0]?.data).toEqual(funnel.map((r) => r.recipients));
    const monthlyIssued = (await api('counts', { ...YEAR, groupBy: 'month', action: 'Issued', badgeClass: b0 })).rows as { bucket: string; events: number }[];
    expect((await chart(page, 'actions-chart'))?.datasets.find((d) => d.label === 'Issued')?.data).toEqual(MONTHS.map((m) => monthlyIssued.find((r) => r.bucket.startsWith(m))?.events ?? 0));
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get('badgeClass')).toBe(b0);

    await page.reload();
    await shown(page, `badge class ${b0}, 2025-01-01 to 2025-12-31`);
    expect(await page.getByLabel('Reader API key', { exact: true }).isVisible()).toBe(false);
    expect(await totalsShown(page)).toEqual(summary.rows);
    expect(errors).toEqual([]);
  });

  it("shows the API's problems: an unknown key, then a range that ends before it starts", async () => {
    const { page } = await openPage();
    await page.goto(`${reporting.url}/`);
    await enterKey(page, 'bgs_not-a-key-of-anyone');
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain('The bearer token is unknown or revoked');
    expect(await page.getByLabel('Reader API key', { exact: true }).isVisible()).toBe(true);
    expect(await page.locator('#reports').isVisible()).toBe(false);

    await enterKey(page, reader);
    await shown(page, `Tenant ${tenant}`);
    expect(await alert.isVisible()).toBe(false);
    await page.getByLabel('From', { exact: true }).fill('2025-06-01');
    await page.getByLabel('Through', { exact: true }).fill('2025-01-01');
    await page.getByRole('button', { name: 'Apply' }).click();
    await alert.waitFor({ timeout: 30_000 });
    const text = await alert.textContent();
    expect(text).toContain('The query cannot be answered as asked');
    expect(text).toContain('the range is empty or inverted');
    expect(await page.locator('#figures').isVisible()).toBe(false);
  });
});
