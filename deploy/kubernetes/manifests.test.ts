import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createMetricsRegistry, loadConfig, type ConfigSpec } from '@badgestream/platform';
import { ingestOptions } from '@badgestream/ingest';
import { criteriaOptions } from '@badgestream/criteria-service';
import { reportingOptions } from '@badgestream/reporting';
import { relayOptions } from '@badgestream/relay';

/*
 * The Kubernetes manifests and the Grafana dashboard, checked against the code they deploy and
 * observe: the config declarations (variable names, default ports, required options, what parses),
 * the CLI's entry point, and the metric names the code registers. Each problem is reported with
 * the file and the item at fault; a check collects all its problems before failing.
 */

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const DASHBOARD_FILE = 'deploy/grafana/badgestream.json';
const CLI_ARGV = ['node', 'bin/badgestream.js'];

interface ServiceDeclaration {
  options: ConfigSpec;
  config: string;
  consumerGroup: boolean;
  /** The option bounding how long its shutdown waits for work in flight. */
  shutdownBound: string;
}

const SERVICES: Record<string, ServiceDeclaration> = {
  ingest: { options: ingestOptions, config: 'services/ingest/src/config.ts', consumerGroup: false, shutdownBound: 'shutdownTimeoutMs' },
  criteria: { options: criteriaOptions, config: 'services/criteria/src/config.ts', consumerGroup: true, shutdownBound: 'webhookTimeoutMs' },
  reporting: { options: reportingOptions, config: 'services/reporting/src/config.ts', consumerGroup: true, shutdownBound: 'lrsTimeoutMs' },
  relay: { options: relayOptions, config: 'services/relay/src/config.ts', consumerGroup: true, shutdownBound: 'deliveryTimeoutMs' },
};

// ---- the manifests, as parsed ------------------------------------------------------------------

interface Metadata {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}
interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: Metadata;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    template?: { metadata?: Metadata; spec?: { containers?: Container[]; terminationGracePeriodSeconds?: number } };
  };
}
interface Kustomization {
  namespace?: string;
  resources?: string[];
  images?: { name: string }[];
}
interface Manifest {
  file: string;
  object: K8sObject;
}

const yamlFiles = readdirSync(HERE)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const parseProblems: string[] = [];
const manifests: Manifest[] = [];
let kustomization: Kustomization | undefined;
for (const file of yamlFiles) {
  for (const doc of parseAllDocuments(readFileSync(path.join(HERE, file), 'utf8'))) {
    for (const error of doc.errors) parseProblems.push(`${file}: ${error.message}`);
    const object = doc.toJS() as K8sObject | Kustomization | null;
    if (object === null) continue;
    if (file === 'kustomization.yaml') kustomization = object as Kustomization;
    else manifests.push({ file, object: object as K8sObject });
  }
}

const IMAGE_ENV = readImageEnvironment();
const ofKind = (kind: string) => manifests.filter((m) => m.object.kind === kind);
const describeItem = (m: Manifest) => `${m.file}: ${m.object.kind} ${m.object.metadata?.name ?? '(unnamed)'}`;
const containersOf = (m: Manifest) => m.object.spec?.template?.spec?.containers ?? [];
const podLabels = (m: Manifest) => m.object.spec?.template?.metadata?.labels ?? {};
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The service a Deployment runs, read from its command line: `node bin/badgestream.js serve <service>`. */
function servedService(m: Manifest): string | undefined {
  const argv = containersOf(m).map((c) => [...(c.command ?? []), ...(c.args ?? [])]);
  const serve = argv.find((a) => a.includes('serve'));
  return serve?.[serve.indexOf('serve') + 1];
}

function deploymentOf(service: string): Manifest {
  const found = ofKind('Deployment').filter((d) => servedService(d) === service);
  if (found.length !== 1) throw new Error(`deploy/kubernetes: expected one Deployment running "serve ${service}", found ${found.length}`);
  return found[0]!;
}

function resolvePort(container: Container, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The environment the image itself sets (ENV of the Dockerfile's last stage): what the manifests add to. */
function readImageEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
  const lastStage = dockerfile.split(/^FROM\s/m).at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const line of lastStage.split('\n')) {
    const instruction = /^\s*ENV\s+(.*)$/.exec(line);
    if (!instruction) continue;
    for (const [, key, value] of instruction[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[key!] = value!.replace(/^"|"$/g, '');
  }
  return env;
}

/** What a container's process finds in its environment: envFrom, then env (which wins), resolved through the manifests. */
function containerEnvironment(m: Manifest, container: Container): { env: Record<string, string>; origins: Map<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const origins = new Map<string, string>();
  const problems: string[] = [];
  const where = `${describeItem(m)} container ${container.name}`;
  const configMap = (name: string) => ofKind('ConfigMap').find((c) => c.object.metadata?.name === name)?.object;
  const secret = (name: string) => {
    const s = ofKind('Secret').find((c) => c.object.metadata?.name === name)?.object;
    if (!s) return undefined;
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    return { ...data, ...s.stringData };
  };
  for (const source of container.envFrom ?? []) {
    const [kind, name, values] = source.configMapRef
      ? ['ConfigMap', source.configMapRef.name, configMap(source.configMapRef.name)?.data]
      : ['Secret', source.secretRef?.name ?? '', secret(source.secretRef?.name ?? '')];
    if (!values) problems.push(`${where}: envFrom names ${kind} ${name}, which no manifest here defines`);
    for (const [key, value] of Object.entries(values ?? {})) {
      env[key] = String(value);
      origins.set(key, `${kind} ${name} (envFrom)`);
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    let value: string | undefined = variable.value;
    if (from?.fieldRef) value = from.fieldRef.fieldPath === 'metadata.name' ? `${m.object.metadata?.name}-7d9c5b8f6-x2x7q` : 'from-the-downward-api';
    else if (from?.configMapKeyRef) value = configMap(from.configMapKeyRef.name)?.data?.[from.configMapKeyRef.key];
    else if (from?.secretKeyRef) value = secret(from.secretKeyRef.name)?.[from.secretKeyRef.key];
    if (value === undefined) problems.push(`${where}: env ${variable.name} has no value, or refers to a ConfigMap or Secret key no manifest here defines`);
    else env[variable.name] = String(value);
    origins.set(variable.name, 'env');
  }
  return { env, origins, problems };
}

/** The configuration the service loads in that container (the previous check reports why it would not). */
function serviceConfig(declaration: ServiceDeclaration, m: Manifest, container: Container): Record<string, unknown> {
  return loadConfig(declaration.options, { ...IMAGE_ENV, ...containerEnvironment(m, container).env });
}

/** Kubernetes quantities: CPU cores ("250m", "2") and bytes ("512Mi", "1G"). */
function quantity(raw: string | number | undefined): number {
  if (typeof raw === 'number') return raw;
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(raw ?? '');
  if (!match) return Number.NaN;
  const unit = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

// ---- the metrics the code registers ------------------------------------------------------------

interface MetricInfo {
  type: string;
  labels: Set<string>;
  source: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(full);
    return /\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name) ? [full] : [];
  });
}

/** The text of the object literal opening at `open` (a "{"), strings skipped when matching braces. */
function objectLiteral(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(open, i + 1);
  }
  return text.slice(open);
}

/** Metrics registered with `new Counter|Gauge|Histogram|Summary({ name: '…', labelNames: […] })` in packages/ and services/. */
function codeMetrics(): { metrics: Map<string, MetricInfo>; problems: string[] } {
  const metrics = new Map<string, MetricInfo>();
  const problems: string[] = [];
  const dirs = ['packages', 'services'].flatMap((top) => readdirSync(path.join(ROOT, top)).map((d) => path.join(ROOT, top, d, 'src')));
  for (const file of dirs.filter((d) => existsSync(d)).flatMap(sourceFiles)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/new\s+(Counter|Gauge|Histogram|Summary)\s*(?:<[^>]*>)?\s*\(\s*\{/g)) {
      const literal = objectLiteral(text, match.index + match[0].length - 1);
      const where = `${path.relative(ROOT, file)}:${text.slice(0, match.index).split('\n').length}`;
      const name = /\bname:\s*['"]([a-zA-Z_:][a-zA-Z0-9_:]*)['"]/.exec(literal)?.[1];
      if (!name) {
        problems.push(`${where}: a ${match[1]} whose name is not a string literal; the dashboard check cannot know it`);
        continue;
      }
      const labelList = /\blabelNames:\s*\[([^\]]*)\]/.exec(literal)?.[1] ?? '';
      const labels = new Set([...labelList.matchAll(/['"]([^'"]+)['"]/g)].map((l) => l[1]!));
      metrics.set(name, { type: match[1]!.toLowerCase(), labels, source: where });
    }
  }
  return { metrics, problems };
}

/** Node's default metrics as createMetricsRegistry collects them, and the default labels it sets. */
async function defaultMetrics(): Promise<{ metrics: Map<string, MetricInfo>; defaultLabels: string[] }> {
  const registry = createMetricsRegistry('probe');
  const metrics = new Map<string, MetricInfo>();
  const defaultLabels = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    // prom-client's typings omit labelNames, which every metric object has.
    const labelNames = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    if (labelNames.length === 0) for (const v of m.values) for (const l of Object.keys(v.labels)) defaultLabels.add(l);
    metrics.set(m.name, { type: String(m.type), labels: new Set(labelNames), source: 'packages/platform/src/metrics.ts (collectDefaultMetrics)' });
  }
  return { metrics, defaultLabels: [...defaultLabels] };
}

/** Every series name a metric exposes, with the labels a query may use on it. */
function seriesCatalogue(metrics: Map<string, MetricInfo>, extraLabels: string[]): Map<string, { metric: string; labels: Set<string> }> {
  const series = new Map<string, { metric: string; labels: Set<string> }>();
  for (const [name, info] of metrics) {
    const labels = new Set([...info.labels, ...extraLabels]);
    if (info.type === 'histogram') {
      series.set(`${name}_bucket`, { metric: name, labels: new Set([...labels, 'le']) });
      series.set(`${name}_sum`, { metric: name, labels });
      series.set(`${name}_count`, { metric: name, labels });
    } else if (info.type === 'summary') {
      series.set(name, { metric: name, labels: new Set([...labels, 'quantile']) });
      series.set(`${name}_sum`, { metric: name, labels });
      series.set(`${name}_count`, { metric: name, labels });
    } else series.set(name, { metric: name, labels });
  }
  return series;
}

// ---- PromQL, as far as the dashboard needs ------------------------------------------------------

const PROMQL_FUNCTIONS = new Set(
  (
    'abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min count count_over_time count_values delta deriv ' +
    'exp floor group histogram_quantile idelta increase irate label_join label_replace last_over_time ln log2 log10 max max_over_time min ' +
    'min_over_time predict_linear quantile quantile_over_time rate resets round scalar sort sort_desc stddev stdvar sum sum_over_time time ' +
    'timestamp topk vector'
  ).split(' '),
);
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The series names, label names (in matchers and grouping) and unknown functions of an expression,
 * and the labels its result keeps when it aggregates: those of the first `by (…)`, written
 * outermost first as the dashboard does, or none for an aggregation without one.
 */
function promqlReferences(expr: string): { series: string[]; labels: string[]; functions: string[]; grouping?: string[] } {
  const labels: string[] = [];
  let grouping: string[] | undefined;
  if (/^\s*(?:sum|min|max|avg|count|group)\s*\(/.test(expr) && !/\b(?:by|without)\s*\(/.test(expr)) grouping = [];
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  rest = rest.replace(/\{([^}]*)\}/g, (_all, matchers: string) => {
    for (const m of matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(m[1]!);
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, clause: string, list: string) => {
    const names = list.split(',').map((l) => l.trim()).filter(Boolean);
    if (clause === 'by') grouping ??= names;
    labels.push(...names);
    return ' ';
  });
  const series: string[] = [];
  const functions: string[] = [];
  for (const m of rest.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const called = /^\s*\(/.test(rest.slice(m.index + word.length));
    if (called) {
      if (!PROMQL_FUNCTIONS.has(word)) functions.push(word);
    } else if (!PROMQL_KEYWORDS.has(word.toLowerCase())) series.push(word);
  }
  return { series, labels, functions, ...(grouping ? { grouping } : {}) };
}

// ---- the dashboard, as parsed --------------------------------------------------------------------

interface Target {
  expr?: string;
  refId?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  collapsed?: boolean;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

function readDashboard(): Dashboard {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, DASHBOARD_FILE), 'utf8')) as Dashboard;
  } catch (error) {
    throw new Error(`${DASHBOARD_FILE}: ${(error as Error).message}`, { cause: error });
  }
}

const dashboard = readDashboard();
const allPanels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
const dataPanels = allPanels.filter((p) => p.type !== 'row');
const panelName = (p: Panel) => `${DASHBOARD_FILE}: panel ${p.id ?? '?'} "${p.title ?? ''}"`;
const DATASOURCE_UID = '${DS_PROMETHEUS}';

/** Every PromQL expression of the dashboard, with where it is and the legend it is drawn with. */
function dashboardQueries(): { where: string; expr: string; legend?: string }[] {
  const queries: { where: string; expr: string; legend?: string }[] = [];
  for (const p of dataPanels) for (const t of p.targets ?? []) queries.push({ where: `${panelName(p)} target ${t.refId ?? '?'}`, expr: t.expr ?? '', ...(t.legendFormat ? { legend: t.legendFormat } : {}) });
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    // Grafana's label_values(<selector>, <label>): the selector is PromQL, the label one of its labels.
    const labelValues = /^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
    queries.push(labelValues ? { where: `${DASHBOARD_FILE}: variable ${v.name}`, expr: labelValues[1]!, legend: `{{${labelValues[2]}}}` } : { where: `${DASHBOARD_FILE}: variable ${v.name}`, expr: query });
  }
  return queries;
}

// ---- the checks -----------------------------------------------------------------------------------

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('parse, and every object has an apiVersion, a kind and a name unique for its kind', () => {
    const problems = [...parseProblems];
    const seen = new Set<string>();
    for (const m of manifests) {
      if (!m.object.apiVersion || !m.object.kind || !m.object.metadata?.name) problems.push(`${describeItem(m)}: lacks apiVersion, kind or metadata.name`);
      const key = `${m.object.kind}/${m.object.metadata?.name}`;
      if (seen.has(key)) problems.push(`${describeItem(m)}: defined twice`);
      seen.add(key);
    }
    expect(problems).toEqual([]);
    expect(manifests.length).toBeGreaterThan(0);
  });

  it('kustomization.yaml lists every manifest, and the namespace and image it sets are the ones the objects use', () => {
    const problems: string[] = [];
    if (!kustomization) throw new Error('kustomization.yaml: missing');
    const listed = new Set(kustomization.resources ?? []);
    for (const file of yamlFiles.filter((f) => f !== 'kustomization.yaml')) if (!listed.has(file)) problems.push(`kustomization.yaml: does not list ${file}`);
    for (const file of listed) if (!yamlFiles.includes(file)) problems.push(`kustomization.yaml: lists ${file}, which does not exist`);
    const namespaces = ofKind('Namespace').map((n) => n.object.metadata?.name);
    if (!kustomization.namespace || !namespaces.includes(kustomization.namespace)) problems.push(`kustomization.yaml: namespace ${kustomization.namespace} is not the Namespace the manifests create (${namespaces.join(', ')})`);
    for (const m of manifests) {
      const ns = m.object.metadata?.namespace;
      if (ns !== undefined && ns !== kustomization.namespace) problems.push(`${describeItem(m)}: namespace ${ns}, but kustomization.yaml puts everything in ${kustomization.namespace}`);
    }
    const imageNames = new Set((kustomization.images ?? []).map((i) => i.name));
    for (const d of ofKind('Deployment')) {
      for (const c of containersOf(d)) {
        const name = (c.image ?? '').replace(/[:@].*$/, '');
        if (!imageNames.has(name)) problems.push(`${describeItem(d)}: image ${c.image} is not one kustomization.yaml's images sets (${[...imageNames].join(', ')})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has exactly one Deployment per service, running `node bin/badgestream.js serve <service>` in the image', () => {
    const problems: string[] = [];
    for (const service of Object.keys(SERVICES)) {
      const found = ofKind('Deployment').filter((d) => servedService(d) === service);
      if (found.length !== 1) problems.push(`deploy/kubernetes: ${found.length} Deployments run "serve ${service}" (${found.map(describeItem).join('; ') || 'none'}); expected one`);
    }
    for (const d of ofKind('Deployment')) {
      const service = servedService(d);
      if (!service || !(service in SERVICES)) problems.push(`${describeItem(d)}: runs no known service (serve ${Object.keys(SERVICES).join('|')})`);
      const containers = containersOf(d);
      if (containers.length !== 1) problems.push(`${describeItem(d)}: has ${containers.length} containers; expected one`);
      for (const c of containers) {
        // Without the command, the image's entrypoint would run `node serve <service>`.
        if (JSON.stringify(c.command) !== JSON.stringify(CLI_ARGV)) problems.push(`${describeItem(d)} container ${c.name}: command ${JSON.stringify(c.command)}; expected ${JSON.stringify(CLI_ARGV)}`);
        if (JSON.stringify(c.args) !== JSON.stringify(['serve', service])) problems.push(`${describeItem(d)} container ${c.name}: args ${JSON.stringify(c.args)}; expected ["serve", "${service}"]`);
      }
      const selector = d.object.spec?.selector?.matchLabels ?? {};
      if (Object.keys(selector).length === 0 || !selects(selector, podLabels(d))) problems.push(`${describeItem(d)}: selector ${JSON.stringify(selector)} does not select its own pod template's labels`);
    }
    expect(problems).toEqual([]);
  });

  it('sets only environment variables the receiving service declares, names the servers it connects to, and the result loads: required options present, every value valid', () => {
    const problems: string[] = [];
    const received = new Set<string>();
    for (const [service, declaration] of Object.entries(SERVICES)) {
      const d = deploymentOf(service);
      const declared = new Set(Object.values(declaration.options).map((o) => o.env));
      for (const c of containersOf(d)) {
        const { env, origins, problems: unresolved } = containerEnvironment(d, c);
        problems.push(...unresolved);
        for (const name of Object.keys(env)) {
          received.add(name);
          if (!declared.has(name)) problems.push(`${describeItem(d)}: ${name} (from ${origins.get(name)}) is not a config option of ${service} (${declaration.config}, packages/platform/src/config.ts)`);
        }
        // In a pod, 127.0.0.1 is the pod itself: Kafka, the registry and MongoDB must be named.
        for (const [key, option] of Object.entries(declaration.options)) {
          if (key !== 'host' && /127\.0\.0\.1|localhost/.test(String(option.default)) && !(option.env in env)) {
            problems.push(`${describeItem(d)}: ${option.env} is not set, and its default ${String(option.default)} is the pod itself`);
          }
        }
        try {
          loadConfig(declaration.options, { ...IMAGE_ENV, ...env });
        } catch (error) {
          problems.push(`${describeItem(d)}: ${service} would not start: ${(error as Error).message}`);
        }
      }
    }
    for (const cm of ofKind('ConfigMap')) for (const key of Object.keys(cm.object.data ?? {})) if (!received.has(key)) problems.push(`${describeItem(cm)}: key ${key} reaches no Deployment`);
    expect(problems).toEqual([]);
  });

  it('exposes each service on its default port, bound to all interfaces, with readiness on /readyz, liveness on /healthz and Prometheus annotations for /metrics', () => {
    const problems: string[] = [];
    for (const [service, declaration] of Object.entries(SERVICES)) {
      const d = deploymentOf(service);
      const portOption = declaration.options.port!;
      const defaultPort = Number(portOption.default);
      for (const c of containersOf(d)) {
        const where = `${describeItem(d)} container ${c.name}`;
        const ports = (c.ports ?? []).map((p) => p.containerPort);
        if (JSON.stringify(ports) !== JSON.stringify([defaultPort])) problems.push(`${where}: container ports ${JSON.stringify(ports)}, but ${service} listens on ${defaultPort} (${portOption.env}'s default in ${declaration.config})`);
        const config = serviceConfig(declaration, d, c) as { port: number; host: string };
        if (config.port !== defaultPort) problems.push(`${where}: ${portOption.env} resolves to ${config.port}, not the declared container port ${defaultPort}`);
        if (config.host !== '0.0.0.0' && config.host !== '::') problems.push(`${where}: ${service} binds ${config.host}; probes and Services reach it only on 0.0.0.0 (set ${declaration.options.host!.env})`);
        const probes: [string, Probe | undefined, string][] = [
          ['readinessProbe', c.readinessProbe, '/readyz'],
          ['livenessProbe', c.livenessProbe, '/healthz'],
          // Not /readyz: a start while Kafka is down would be killed instead of waited for.
          ...(c.startupProbe ? [['startupProbe', c.startupProbe, '/healthz'] as [string, Probe, string]] : []),
        ];
        for (const [kind, probe, expected] of probes) {
          if (probe?.httpGet?.path !== expected) problems.push(`${where}: ${kind} ${probe?.httpGet ? `GETs ${probe.httpGet.path}` : 'is missing or not an httpGet'}; expected ${expected}`);
          else if (resolvePort(c, probe.httpGet.port) !== defaultPort) problems.push(`${where}: ${kind} port ${probe.httpGet.port} is not the container port ${defaultPort}`);
        }
        const annotations = d.object.spec?.template?.metadata?.annotations ?? {};
        const scrape = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(defaultPort), 'prometheus.io/path': '/metrics' };
        for (const [key, value] of Object.entries(scrape)) if (annotations[key] !== value) problems.push(`${describeItem(d)}: pod annotation ${key} is ${JSON.stringify(annotations[key])}; expected ${JSON.stringify(value)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives each container CPU and memory requests within its limits, and a grace period longer than its shutdown', () => {
    const problems: string[] = [];
    for (const [service, declaration] of Object.entries(SERVICES)) {
      const d = deploymentOf(service);
      const podSpec = d.object.spec?.template?.spec;
      for (const c of containersOf(d)) {
        const where = `${describeItem(d)} container ${c.name}`;
        for (const resource of ['cpu', 'memory']) {
          const request = quantity(c.resources?.requests?.[resource]);
          const limit = quantity(c.resources?.limits?.[resource]);
          if (!(request > 0) || !(limit > 0)) problems.push(`${where}: ${resource} request and limit must both be set (got ${c.resources?.requests?.[resource]} / ${c.resources?.limits?.[resource]})`);
          else if (request > limit) problems.push(`${where}: ${resource} request ${c.resources?.requests?.[resource]} exceeds its limit ${c.resources?.limits?.[resource]}`);
        }
        const config = serviceConfig(declaration, d, c);
        const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
        const preStopMs = preStop[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
        const boundMs = Number(config[declaration.shutdownBound]);
        const neededMs = preStopMs + boundMs + 10_000;
        const graceMs = (podSpec?.terminationGracePeriodSeconds ?? 30) * 1000;
        if (!(graceMs >= neededMs)) {
          problems.push(`${describeItem(d)}: terminationGracePeriodSeconds ${graceMs / 1000} s is shorter than the preStop sleep (${preStopMs / 1000} s) + ${declaration.options[declaration.shutdownBound]!.env} (${boundMs / 1000} s) + 10 s to close Kafka and MongoDB`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('runs consumer groups with at least one and at most as many replicas as the topics get partitions', () => {
    const problems: string[] = [];
    for (const [service, declaration] of Object.entries(SERVICES)) {
      const d = deploymentOf(service);
      const replicas = d.object.spec?.replicas ?? 1;
      if (replicas < 1) problems.push(`${describeItem(d)}: replicas ${replicas}`);
      if (!declaration.consumerGroup) continue;
      for (const c of containersOf(d)) {
        const { topicPartitions } = serviceConfig(declaration, d, c) as { topicPartitions: number };
        if (replicas > topicPartitions) problems.push(`${describeItem(d)}: ${replicas} replicas for ${topicPartitions} partitions (KAFKA_TOPIC_PARTITIONS): ${replicas - topicPartitions} would sit idle`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has a Service for every Deployment, each selecting exactly one Deployment and targeting a port its container declares', () => {
    const problems: string[] = [];
    const covered = new Set<Manifest>();
    for (const s of ofKind('Service')) {
      const selector = (s.object.spec?.selector ?? {}) as Record<string, string>;
      const targets = Object.keys(selector).length === 0 ? [] : ofKind('Deployment').filter((d) => selects(selector, podLabels(d)));
      if (targets.length !== 1) {
        problems.push(`${describeItem(s)}: selector ${JSON.stringify(selector)} matches the pods of ${targets.length} Deployments (${targets.map(describeItem).join('; ') || 'none'}); expected one`);
        continue;
      }
      const target = targets[0]!;
      covered.add(target);
      for (const port of s.object.spec?.ports ?? []) {
        const targetPort = port.targetPort ?? port.port;
        if (!containersOf(target).some((c) => resolvePort(c, targetPort) !== undefined)) problems.push(`${describeItem(s)}: port ${port.name ?? port.port} targets ${targetPort}, which no container of ${describeItem(target)} declares`);
      }
    }
    for (const d of ofKind('Deployment')) if (!covered.has(d)) problems.push(`${describeItem(d)}: no Service selects its pods`);
    expect(problems).toEqual([]);
  });
});

describe(`Grafana dashboard (${DASHBOARD_FILE})`, () => {
  it('has a uid, a recent schema, unique panel ids and panels inside the 24-column grid without overlaps', () => {
    const problems: string[] = [];
    if (!dashboard.uid || !dashboard.title) problems.push(`${DASHBOARD_FILE}: uid and title are required`);
    if (!((dashboard.schemaVersion ?? 0) >= 36)) problems.push(`${DASHBOARD_FILE}: schemaVersion ${dashboard.schemaVersion}; expected 36 or later`);
    const ids = new Set<number>();
    for (const p of allPanels) {
      if (!Number.isInteger(p.id)) problems.push(`${panelName(p)}: id is not an integer`);
      else if (ids.has(p.id!)) problems.push(`${panelName(p)}: id used twice`);
      ids.add(p.id!);
      const g = p.gridPos;
      if (!g || g.x < 0 || g.w <= 0 || g.h <= 0 || g.x + g.w > 24) problems.push(`${panelName(p)}: gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
    }
    const placed = (dashboard.panels ?? []).filter((p) => p.gridPos);
    placed.forEach((a, i) => {
      for (const b of placed.slice(i + 1)) {
        const [ga, gb] = [a.gridPos!, b.gridPos!];
        if (ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h) problems.push(`${panelName(a)} overlaps ${panelName(b)}`);
      }
    });
    expect(problems).toEqual([]);
    expect(dataPanels.length).toBeGreaterThan(0);
  });

  it('takes its Prometheus data source from the DS_PROMETHEUS variable everywhere', () => {
    const problems: string[] = [];
    const variable = dashboard.templating?.list?.find((v) => v.name === 'DS_PROMETHEUS');
    if (variable?.type !== 'datasource' || variable.query !== 'prometheus') problems.push(`${DASHBOARD_FILE}: no datasource variable DS_PROMETHEUS of type prometheus`);
    for (const p of dataPanels) {
      if (p.datasource?.uid !== DATASOURCE_UID) problems.push(`${panelName(p)}: datasource ${JSON.stringify(p.datasource)}; expected uid ${DATASOURCE_UID}`);
      if (!p.targets?.length) problems.push(`${panelName(p)}: has no query`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      if (new Set(refIds).size !== refIds.length) problems.push(`${panelName(p)}: refIds ${JSON.stringify(refIds)} repeat`);
      for (const t of p.targets ?? []) if (t.datasource && t.datasource.uid !== DATASOURCE_UID) problems.push(`${panelName(p)} target ${t.refId}: datasource ${JSON.stringify(t.datasource)}; expected uid ${DATASOURCE_UID}`);
    }
    for (const v of dashboard.templating?.list ?? []) if (v.type === 'query' && v.datasource?.uid !== DATASOURCE_UID) problems.push(`${DASHBOARD_FILE}: variable ${v.name} queries ${JSON.stringify(v.datasource)}; expected uid ${DATASOURCE_UID}`);
    expect(problems).toEqual([]);
  });

  it('queries only metrics the code registers, with labels they have, and shows every metric the services register', async () => {
    const { metrics: registered, problems } = codeMetrics();
    const { metrics: defaults, defaultLabels } = await defaultMetrics();
    // The scan found the services' metrics, or its silence would pass everything.
    for (const dir of ['packages/platform', ...Object.values(SERVICES).map((s) => path.dirname(path.dirname(s.config)))]) {
      if (![...registered.values()].some((m) => m.source.startsWith(`${dir}/`))) problems.push(`${dir}: the scan found no metric registered there`);
    }
    // instance and job: the labels Prometheus gives every scraped series.
    const series = seriesCatalogue(new Map([...defaults, ...registered]), [...defaultLabels, 'instance', 'job']);
    const shown = new Set<string>();
    for (const { where, expr, legend } of dashboardQueries()) {
      const refs = promqlReferences(expr);
      if (refs.series.length === 0) problems.push(`${where}: ${JSON.stringify(expr)} queries no metric`);
      const labels = new Set<string>();
      for (const name of refs.series) {
        const known = series.get(name);
        if (!known) problems.push(`${where}: ${name} is not a metric the code registers`);
        else {
          shown.add(known.metric);
          for (const l of known.labels) labels.add(l);
        }
      }
      for (const f of refs.functions) problems.push(`${where}: ${f}() is not a PromQL function`);
      for (const l of refs.labels) if (labels.size > 0 && !labels.has(l)) problems.push(`${where}: label ${l} is on none of ${refs.series.join(', ')}`);
      for (const [, l] of (legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
        if (refs.grouping && !refs.grouping.includes(l!)) problems.push(`${where}: legend {{${l}}} names a label the aggregation drops (it keeps ${refs.grouping.join(', ') || 'none'})`);
        else if (labels.size > 0 && !labels.has(l!)) problems.push(`${where}: legend {{${l}}} is a label of none of ${refs.series.join(', ')}`);
      }
    }
    for (const [name, info] of registered) if (!shown.has(name)) problems.push(`${DASHBOARD_FILE}: no panel shows ${name} (registered at ${info.source})`);
    expect(problems).toEqual([]);
  });
});
