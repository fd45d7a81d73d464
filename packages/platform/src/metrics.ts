import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Histogram, Gauge, Registry } from 'prom-client';

/** A registry per process, with Node's default metrics under the badgestream_ prefix. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'badgestream_' });
  return registry;
}
