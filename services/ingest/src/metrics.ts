import { Counter, Histogram, type Registry } from '@badgestream/platform';

export interface IngestMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  requestSeconds: Histogram<'route'>;
  events: Counter<'outcome' | 'reason'>;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  return {
    requests: new Counter({
      name: 'badgestream_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'badgestream_http_request_seconds',
      help: 'HTTP request duration',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    events: new Counter({
      name: 'badgestream_ingest_events_total',
      help: 'Caliper events and entity describes by outcome (accepted, rejected) and, when rejected, the reason',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
  };
}
