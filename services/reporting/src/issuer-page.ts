import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';

/**
 * The issuer page: the reporting API's figures as charts, at `/` (`/dashboard` leads there). The
 * page and its assets need no key; the page asks for a reader key and calls the API with it.
 */

// tsc copies no HTML, CSS or plain JS to dist/: from src/ and from dist/ alike, ../src/web is src/web.
const WEB_DIR = fileURLToPath(new URL('../src/web/', import.meta.url));
// chart.js exports no path to its UMD build; it sits beside the CommonJS entry.
const CHART_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  // Revalidated on every load (ETag), so a new version of the page is seen at once.
  'Cache-Control': 'no-cache',
};

// With a root, only the file's name is checked for dots, not the folders of the checkout.
function sendFile(res: Response, file: string): void {
  res.sendFile(path.basename(file), { root: path.dirname(file), headers: PAGE_HEADERS });
}

export function issuerPage(): Router {
  const router = express.Router();
  router.get('/', (_req, res) => sendFile(res, path.join(WEB_DIR, 'index.html')));
  router.get('/dashboard', (_req, res) => res.redirect(302, '/'));
  router.get('/assets/chart.umd.min.js', (_req, res) => sendFile(res, CHART_JS));
  router.use('/assets', express.static(path.join(WEB_DIR, 'assets'), { index: false, redirect: false, setHeaders: (res) => res.set(PAGE_HEADERS) }));
  return router;
}
