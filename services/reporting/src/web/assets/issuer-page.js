/**
 * The issuer page: asks for a reader key, calls the reporting API with it for the chosen range
 * and badge class, and draws the answers (Chart.js, loaded before this module) with their
 * figures as text beside them. The filters live in the address's fragment, so a view can be
 * bookmarked; the key lives in this tab's session storage only.
 */

const KEY_STORAGE = 'badgestream.readerKey';
const DAY_MS = 86_400_000;
const BADGE_ACTIONS = ['Assigned', 'Applied', 'Demonstrated', 'Issued', 'Shared', 'Accessed', 'Verified', 'Accepted', 'Revoked'];
const CONSUMER_ACTIONS = ['Shared', 'Accessed', 'Verified', 'Accepted'];
const COLORS = {
  Assigned: '#64748b',
  Applied: '#9333ea',
  Demonstrated: '#0284c7',
  Issued: '#2563eb',
  Shared: '#16a34a',
  Accessed: '#ca8a04',
  Verified: '#0d9488',
  Accepted: '#ea580c',
  Revoked: '#b91c1c',
};
const TOP_BADGES = 10;
const TOP_CONSUMERS = 10;

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

let loads = 0;

// ---------------------------------------------------------------------------------------------
// Ranges and buckets (UTC, as the API counts)

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const dayOf = (text) => Date.parse(`${text}T00:00:00Z`);

function presetRange(preset, now = Date.now()) {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const year = new Date(today).getUTCFullYear();
  switch (preset) {
    case '7d':
      return { from: isoDay(today - 6 * DAY_MS), through: isoDay(today) };
    case '90d':
      return { from: isoDay(today - 89 * DAY_MS), through: isoDay(today) };
    case '12m': {
      const d = new Date(today);
      return { from: isoDay(Date.UTC(year - 1, d.getUTCMonth(), d.getUTCDate()) + DAY_MS), through: isoDay(today) };
    }
    case 'year':
      return { from: `${year}-01-01`, through: isoDay(today) };
    case 'last-year':
      return { from: `${year - 1}-01-01`, through: `${year - 1}-12-31` };
    default:
      return { from: isoDay(today - 29 * DAY_MS), through: isoDay(today) };
  }
}

/** The bucket a range is shown in when the choice is automatic: a few dozen points at most. */
function autoGroupBy(fromMs, toMs) {
  const days = (toMs - fromMs) / DAY_MS;
  if (days <= 3) return 'hour';
  if (days <= 92) return 'day';
  if (days <= 731) return 'week';
  return 'month';
}

/** Start of the bucket holding `ms`, as the API computes it (weeks start on Monday). */
function bucketStart(ms, groupBy) {
  if (groupBy === 'hour') return Math.floor(ms / 3_600_000) * 3_600_000;
  const day = Math.floor(ms / DAY_MS);
  if (groupBy === 'day') return day * DAY_MS;
  if (groupBy === 'week') return (day - ((day + 3) % 7)) * DAY_MS;
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextBucket(start, groupBy) {
  if (groupBy === 'hour') return start + 3_600_000;
  if (groupBy === 'day') return start + DAY_MS;
  if (groupBy === 'week') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

function bucketLabel(start, groupBy) {
  const iso = new Date(start).toISOString();
  if (groupBy === 'hour') return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  if (groupBy === 'month') return iso.slice(0, 7);
  return iso.slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Filters: form ⇄ address fragment

function readFilters() {
  const from = $('from').value;
  const through = $('through').value;
  const chosen = $('group-by').value;
  const fromMs = dayOf(from);
  const toMs = dayOf(through) + DAY_MS;
  return { from, through, fromMs, toMs, chosen, groupBy: chosen === 'auto' ? autoGroupBy(fromMs, toMs) : chosen, badgeClass: $('badge-class').value };
}

function writeFragment(f) {
  const params = new URLSearchParams({ from: f.from, through: f.through });
  if (f.chosen !== 'auto') params.set('groupBy', f.chosen);
  if (f.badgeClass) params.set('badgeClass', f.badgeClass);
  window.history.replaceState(null, '', `#${params}`);
}

function restoreFilters() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const range = params.get('from') && params.get('through') ? { from: params.get('from'), through: params.get('through') } : presetRange('30d');
  $('from').value = range.from;
  $('through').value = range.through;
  const groupBy = params.get('groupBy');
  if (groupBy && [...$('group-by').options].some((o) => o.value === groupBy)) $('group-by').value = groupBy;
  const badgeClass = params.get('badgeClass');
  if (badgeClass) ensureOption($('badge-class'), badgeClass).selected = true;
}

function ensureOption(select, value) {
  const existing = [...select.options].find((o) => o.value === value);
  if (existing) return existing;
  const option = new window.Option(shortIri(value), value);
  select.add(option);
  return option;
}

// ---------------------------------------------------------------------------------------------
// The API

class Problem extends Error {
  constructor(status, body) {
    super(body.title);
    this.status = status;
    this.body = body;
  }
}

async function report(kind, params) {
  let response;
  try {
    response = await window.fetch(`reports/${kind}?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${window.sessionStorage.getItem(KEY_STORAGE)}`, accept: 'application/json' } });
  } catch (error) {
    throw new Problem(0, { title: 'The reporting service cannot be reached', detail: String(error.message ?? error) });
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { title: `The reporting service answered ${response.status} ${response.statusText}`, detail: text.slice(0, 300) };
  }
  if (!response.ok) throw new Problem(response.status, body);
  return body;
}

async function fetchAll(f) {
  const range = { from: f.from, to: isoDay(f.toMs) };
  const filtered = f.badgeClass ? { ...range, badgeClass: f.badgeClass } : range;
  const [counts, funnel, ratios, timeToEarn, consumers, topBadges] = await Promise.all([
    report('counts', { ...filtered, groupBy: f.groupBy, distinct: 'true' }),
    report('funnel', filtered),
    report('ratios', filtered),
    report('time-to-earn', filtered),
    report('consumers', { ...filtered, action: CONSUMER_ACTIONS.join(',') }),
    // Every badge class of the range, whatever the filter: the choices of the badge class filter.
    report('top-badges', { ...range, by: 'Issued', limit: '100' }),
  ]);
  return { counts, funnel, ratios, timeToEarn, consumers, topBadges };
}

// ---------------------------------------------------------------------------------------------
// Showing it

function shortIri(iri) {
  try {
    const url = new URL(iri);
    const segments = url.pathname.split('/').filter(Boolean);
    return segments.length > 0 ? decodeURIComponent(segments[segments.length - 1]) : url.host;
  } catch {
    return iri;
  }
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds >= DAY_MS / 1000) return `${decimal.format(seconds / 86_400)} days`;
  if (seconds >= 3600) return `${decimal.format(seconds / 3600)} hours`;
  return `${decimal.format(seconds / 60)} minutes`;
}

function fillTable(table, columns, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = c.title;
    if (rows.length > 0 && typeof c.value(rows[0]) === 'number') th.className = 'num';
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const c of columns) {
      const td = tr.insertCell();
      const value = c.value(row);
      td.textContent = typeof value === 'number' ? number.format(value) : String(value ?? '—');
      if (typeof value === 'number') td.className = 'num';
    }
  }
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = columns.length;
    td.textContent = 'Nothing in this range.';
  }
}

function draw(id, config) {
  Chart.getChart(id)?.destroy();
  return new Chart($(id), config);
}

const horizontal = (extra = {}) => ({
  indexAxis: 'y',
  responsive: true,
  maintainAspectRatio: false,
  scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
  ...extra,
});

function showSummary(data) {
  const totals = data.counts.totals;
  const total = (action) => totals.find((t) => t.action === action) ?? { events: 0, recipients: 0 };
  const ratio = (name) => data.ratios.rows.find((r) => r.ratio === name)?.value ?? null;
  const median = data.timeToEarn.rows.find((r) => r.percentile === 50)?.seconds ?? null;
  const headline = [
    ['Badges issued', number.format(total('Issued').events)],
    ['Recipients issued a badge', number.format(total('Issued').recipients)],
    ['Shares', number.format(total('Shared').events)],
    ['Verifications', number.format(total('Verified').events)],
    ['Acceptances', number.format(total('Accepted').events)],
    ['Acceptance rate', ratio('acceptanceRate') === null ? '—' : percent.format(ratio('acceptanceRate'))],
    ['Share rate', ratio('shareRate') === null ? '—' : percent.format(ratio('shareRate'))],
    ['Median time to earn', duration(median)],
  ];
  $('headline').replaceChildren(
    ...headline.map(([term, value]) => {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = value;
      div.append(dt, dd);
      return div;
    }),
  );
  const body = $('totals').tBodies[0];
  body.replaceChildren();
  for (const t of totals) {
    const tr = body.insertRow();
    tr.insertCell().textContent = t.action;
    for (const v of [t.events, t.recipients, t.actors]) {
      const td = tr.insertCell();
      td.className = 'num';
      td.textContent = number.format(v);
    }
  }
  if (totals.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = 4;
    td.textContent = 'No events in this range.';
  }
}

function showActions(data, f) {
  const buckets = [];
  for (let b = bucketStart(f.fromMs, f.groupBy); b < f.toMs; b = nextBucket(b, f.groupBy)) buckets.push(b);
  const index = new Map(buckets.map((b, i) => [b, i]));
  const actions = BADGE_ACTIONS.filter((a) => data.counts.totals.some((t) => t.action === a));
  const series = new Map(actions.map((a) => [a, buckets.map(() => 0)]));
  for (const row of data.counts.rows) {
    const i = index.get(Date.parse(row.bucket));
    if (i !== undefined && series.has(row.action)) series.get(row.action)[i] = row.events;
  }
  const labels = buckets.map((b) => bucketLabel(b, f.groupBy));
  draw('actions-chart', {
    type: 'line',
    data: { labels, datasets: actions.map((a) => ({ label: a, data: series.get(a), borderColor: COLORS[a], backgroundColor: COLORS[a], pointRadius: buckets.length > 60 ? 0 : 2, tension: 0.2 })) },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: { x: { title: { display: true, text: `${f.groupBy === 'week' ? 'week starting' : f.groupBy} (UTC)` } }, y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'events' } } },
    },
  });
  fillTable($('actions-table'), [{ title: 'Bucket', value: (i) => labels[i] }, ...actions.map((a) => ({ title: a, value: (i) => series.get(a)[i] }))], buckets.map((_, i) => i));
}

function showFunnel(data) {
  const rows = data.funnel.rows;
  draw('funnel-chart', {
    type: 'bar',
    data: { labels: rows.map((r) => r.stage), datasets: [{ label: 'recipients', data: rows.map((r) => r.recipients), backgroundColor: rows.map((r) => COLORS[r.stage]) }] },
    options: horizontal({
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => (rows[item.dataIndex].conversion === null ? '' : `${percent.format(rows[item.dataIndex].conversion)} of the stage before`) } },
      },
    }),
  });
  const rate = (v) => (v === null ? '—' : percent.format(v));
  fillTable($('funnel-table'), [
    { title: 'Stage', value: (r) => r.stage },
    { title: 'Recipients', value: (r) => r.recipients },
    { title: 'Of the stage before', value: (r) => rate(r.conversion) },
    { title: 'Of the first stage', value: (r) => rate(r.ofFirst) },
  ], rows);
}

function showTopBadges(data, f) {
  const rows = data.topBadges.rows.slice(0, TOP_BADGES);
  const faded = f.badgeClass ? `${COLORS.Issued}55` : COLORS.Issued;
  draw('top-badges-chart', {
    type: 'bar',
    data: { labels: rows.map((r) => shortIri(r.badgeClass)), datasets: [{ label: 'badges issued', data: rows.map((r) => r.value), backgroundColor: rows.map((r) => (r.badgeClass === f.badgeClass ? COLORS.Issued : faded)) }] },
    options: horizontal({ plugins: { legend: { display: false }, tooltip: { callbacks: { title: (items) => rows[items[0].dataIndex].badgeClass } } } }),
  });
  fillTable($('top-badges-table'), [
    { title: 'Rank', value: (r) => r.rank },
    { title: 'Badge class', value: (r) => r.badgeClass },
    { title: 'Issuer', value: (r) => r.issuer || '—' },
    { title: 'Badges issued', value: (r) => r.value },
  ], data.topBadges.rows);
}

function showConsumers(data) {
  // Who consumes: the application (a backpack badges are shared to, a verifier), else the actor
  // (an employer, a recruiter viewing a share). Learners sharing their own badge are not consumers.
  const byActor = new Map();
  for (const row of data.consumers.rows) {
    const who = row.edApp || row.actor;
    const counts = byActor.get(who) ?? Object.fromEntries(CONSUMER_ACTIONS.map((a) => [a, 0]));
    counts[row.action] += row.events;
    byActor.set(who, counts);
  }
  const sum = (counts) => CONSUMER_ACTIONS.reduce((n, a) => n + counts[a], 0);
  const actors = [...byActor].sort((a, b) => sum(b[1]) - sum(a[1]) || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_CONSUMERS);
  const shown = CONSUMER_ACTIONS.filter((a) => actors.some(([, counts]) => counts[a] > 0));
  draw('consumers-chart', {
    type: 'bar',
    data: { labels: actors.map(([actor]) => consumerLabel(actor)), datasets: shown.map((a) => ({ label: a, data: actors.map(([, counts]) => counts[a]), backgroundColor: COLORS[a] })) },
    options: horizontal({
      scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
      plugins: { tooltip: { callbacks: { title: (items) => actors[items[0].dataIndex][0] } } },
    }),
  });
  fillTable($('consumers-table'), [
    { title: 'Action', value: (r) => r.action },
    { title: 'Actor', value: (r) => r.actor },
    { title: 'Application', value: (r) => r.edApp || '—' },
    { title: 'Events', value: (r) => r.events },
  ], data.consumers.rows);
}

function consumerLabel(actor) {
  try {
    const url = new URL(actor);
    return `${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return actor;
  }
}

function showBadgeClasses(data, f) {
  const select = $('badge-class');
  const options = [new window.Option('All badge classes', '')];
  for (const r of data.topBadges.rows) options.push(new window.Option(`${shortIri(r.badgeClass)} (${r.badgeClass})`, r.badgeClass));
  select.replaceChildren(...options);
  ensureOption(select, f.badgeClass).selected = true;
}

function showProblem(problem) {
  $('problem-title').textContent = problem.body.title ?? 'The report failed';
  const errors = problem.body.errors ?? [];
  // An invalid query's detail is its errors run together: they are listed instead.
  $('problem-detail').textContent = errors.length > 0 ? '' : (problem.body.detail ?? '');
  $('problem-detail').hidden = !$('problem-detail').textContent;
  $('problem-errors').replaceChildren(
    ...errors.map((e) => {
      const li = document.createElement('li');
      li.textContent = `${e.pointer.slice(1) || 'query'}: ${e.reason}`;
      return li;
    }),
  );
  $('problem').hidden = false;
}

// ---------------------------------------------------------------------------------------------
// The flow

function showKeyForm(visible) {
  $('key-section').hidden = !visible;
  $('reports').hidden = visible;
  if (visible) $('key').focus();
}

async function load() {
  const f = readFilters();
  const seq = ++loads;
  if (Number.isNaN(f.fromMs) || Number.isNaN(f.toMs)) {
    showProblem(new Problem(0, { title: 'Choose a range', detail: 'give a date in both From and Through' }));
    return;
  }
  writeFragment(f);
  $('main').setAttribute('aria-busy', 'true');
  $('status').textContent = 'Loading…';
  let data;
  try {
    data = await fetchAll(f);
  } catch (error) {
    if (seq !== loads) return;
    if (!(error instanceof Problem)) throw error;
    showProblem(error);
    $('figures').hidden = true;
    $('status').textContent = '';
    if (error.status === 401 || error.status === 403) {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showKeyForm(true);
    }
    return;
  } finally {
    if (seq === loads) $('main').setAttribute('aria-busy', 'false');
  }
  if (seq !== loads) return;
  $('problem').hidden = true;
  showKeyForm(false);
  $('figures').hidden = false;
  showBadgeClasses(data, f);
  showSummary(data);
  showActions(data, f);
  showFunnel(data);
  showTopBadges(data, f);
  showConsumers(data);
  const scope = f.badgeClass ? `badge class ${f.badgeClass}` : 'all badge classes';
  $('status').textContent = `Tenant ${data.counts.tenant}: ${scope}, ${f.from} to ${f.through} (UTC), by ${f.groupBy}.`;
}

function start() {
  Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = '#334155';
  // Charts that appear at once for those who asked for less motion (and for screenshots).
  if (window.matchMedia('(prefers-reduced-motion: reduce)').matches) Chart.defaults.animation = false;
  restoreFilters();

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    window.sessionStorage.setItem(KEY_STORAGE, $('key').value.trim());
    $('key').value = '';
    void load();
  });
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  for (const id of ['badge-class', 'group-by']) $(id).addEventListener('change', () => void load());
  for (const button of document.querySelectorAll('[data-preset]')) {
    button.addEventListener('click', () => {
      const range = presetRange(button.dataset.preset);
      $('from').value = range.from;
      $('through').value = range.through;
      void load();
    });
  }
  $('forget-key').addEventListener('click', () => {
    window.sessionStorage.removeItem(KEY_STORAGE);
    $('problem').hidden = true;
    showKeyForm(true);
  });

  const remembered = Boolean(window.sessionStorage.getItem(KEY_STORAGE));
  showKeyForm(!remembered);
  if (remembered) void load();
}

start();
