import { FUNNEL_STAGES, GROUP_BY, MAX_HOURLY_RANGE_HOURS, MAX_RANGE_DAYS, MAX_TOP_LIMIT, PERCENTILES, RATIOS, type QueryKind } from './queries.js';

/**
 * The OpenAPI 3.1 description of the reporting API, served at /openapi.json. Its response
 * schemas are JSON Schema 2020-12; the integration tests check real answers against them.
 */

const nullableNumber = { type: ['number', 'null'] };
const instant = { type: 'string', format: 'date-time' };

const param = (name: string, description: string, schema: object, required = false) => ({ name, in: 'query', required, description, schema });

const COMMON = [
  param('from', 'start of the range, inclusive: a date (midnight UTC) or a date-time on the hour', { type: 'string' }, true),
  param('to', `end of the range, exclusive; at most ${MAX_RANGE_DAYS} days after from`, { type: 'string' }, true),
  param('badgeClass', 'only events about this badge class (IRI)', { type: 'string' }),
  param('issuer', 'only events about badge classes of this issuer (IRI)', { type: 'string' }),
  param('format', 'json (default) or csv; Accept: text/csv works too', { type: 'string', enum: ['json', 'csv'] }),
];

function envelope(row: object, extra: Record<string, object> = {}, required: string[] = []) {
  return {
    type: 'object',
    required: ['tenant', 'query', 'rows', ...required],
    properties: { tenant: { type: 'string' }, query: { type: 'object' }, rows: { type: 'array', items: row }, ...extra },
    additionalProperties: false,
  };
}

const row = (properties: Record<string, object>) => ({ type: 'object', required: Object.keys(properties), properties, additionalProperties: false });

const countsRow = {
  type: 'object',
  required: ['bucket', 'action', 'events'],
  properties: { bucket: instant, action: { type: 'string' }, events: { type: 'integer', minimum: 1 }, recipients: { type: 'integer' }, actors: { type: 'integer' } },
  additionalProperties: false,
};
const countsTotal = { ...countsRow, required: ['action', 'events'], properties: { action: { type: 'string' }, events: { type: 'integer' }, recipients: { type: 'integer' }, actors: { type: 'integer' } } };
const funnelRow = row({ stage: { enum: [...FUNNEL_STAGES] }, recipients: { type: 'integer' }, conversion: nullableNumber, ofFirst: nullableNumber });
const ratioRow = row({ ratio: { enum: Object.keys(RATIOS) }, numerator: { type: 'integer' }, denominator: { type: 'integer' }, value: nullableNumber });
const consumerRow = row({ action: { type: 'string' }, actor: { type: 'string' }, edApp: { type: 'string' }, events: { type: 'integer' } });
const percentileRow = row({ percentile: { enum: [...PERCENTILES] }, seconds: nullableNumber });
const topRow = row({ rank: { type: 'integer', minimum: 1 }, badgeClass: { type: 'string' }, issuer: { type: 'string' }, value: { type: 'number' } });
const summaryRow = row({ action: { type: 'string' }, events: { type: 'integer' }, recipients: { type: 'integer' }, actors: { type: 'integer' } });
const timeToEarnExtra = { recipientsIssued: { type: 'integer' }, measured: { type: 'integer' } };

export const RESPONSE_SCHEMAS: Record<QueryKind, object> = {
  counts: envelope(countsRow, { totals: { type: 'array', items: countsTotal } }, ['totals']),
  funnel: envelope(funnelRow),
  ratios: envelope(ratioRow),
  consumers: envelope(consumerRow),
  'time-to-earn': envelope(percentileRow, timeToEarnExtra, ['recipientsIssued', 'measured']),
  'top-badges': envelope(topRow),
  summary: envelope(
    summaryRow,
    {
      issuer: { type: ['string', 'null'] },
      ratios: { type: 'array', items: ratioRow },
      funnel: { type: 'array', items: funnelRow },
      timeToEarn: { type: 'object', required: ['recipientsIssued', 'measured', 'percentiles'], properties: { ...timeToEarnExtra, percentiles: { type: 'array', items: percentileRow } }, additionalProperties: false },
    },
    ['issuer', 'ratios', 'funnel', 'timeToEarn'],
  ),
};

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', required: ['pointer', 'reason'], properties: { pointer: { type: 'string' }, reason: { type: 'string' } } } },
  },
};

const XAPI_STATEMENT = {
  type: 'object',
  required: ['id', 'actor', 'verb', 'object', 'timestamp'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    actor: { type: 'object', required: ['objectType', 'account'], properties: { objectType: { const: 'Agent' }, account: { type: 'object', required: ['homePage', 'name'] } } },
    verb: { type: 'object', required: ['id'] },
    object: { type: 'object', required: ['objectType', 'id', 'definition'] },
    timestamp: instant,
    context: { type: 'object' },
  },
};

const count = { type: 'integer', minimum: 0 };
const XAPI_PUSH_STATUS = {
  type: 'object',
  required: ['connectors'],
  properties: {
    connectors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['endpoint', 'tenant', 'pushedSlices', 'pushedStatements', 'lastPushedAt', 'queuedSlices', 'queuedStatements', 'inFlight', 'progress', 'failedAttempts', 'lastError'],
        properties: {
          endpoint: { type: 'string', description: 'the LRS (REPORTING_LRS_ENDPOINT)' },
          tenant: { type: 'string' },
          pushedSlices: { ...count, description: 'slices recorded as taken by the LRS, by this process and earlier ones' },
          pushedStatements: { ...count, description: 'the statements of those slices' },
          lastPushedAt: { type: ['string', 'null'], format: 'date-time' },
          queuedSlices: { ...count, description: 'slices waiting for the LRS, the one in flight included' },
          queuedStatements: { ...count, description: 'the statements of those slices' },
          inFlight: {
            type: ['object', 'null'],
            description: 'the slice being pushed, in batches of REPORTING_LRS_BATCH: its statements and how many of them the LRS took so far',
            required: ['slice', 'statements', 'sent'],
            properties: { slice: { type: 'string' }, statements: count, sent: count },
            additionalProperties: false,
          },
          progress: {
            type: 'object',
            description: 'statements the LRS took (done) of all the connector was given (total): pushed, plus waiting; the total grows as badge events are counted',
            required: ['done', 'total'],
            properties: { done: count, total: count },
            additionalProperties: false,
          },
          failedAttempts: { ...count, description: 'batches the LRS did not take (each is retried with backoff)' },
          lastError: { type: ['string', 'null'] },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

const DESCRIPTIONS: Record<QueryKind, { summary: string; params: object[] }> = {
  counts: {
    summary: `Events of each action per ${GROUP_BY.join(', ')} (hourly over at most ${MAX_HOURLY_RANGE_HOURS / 24} days); with distinct=true, distinct recipients and actors per bucket and in total. Learning events are counted as Type:Action (GradeEvent:Graded).`,
    params: [
      param('groupBy', 'bucket size', { enum: [...GROUP_BY] }, true),
      param('action', 'comma-separated actions to count (default: every action seen)', { type: 'string' }),
      param('distinct', 'also count distinct recipients and actors', { enum: ['true', 'false'] }),
    ],
  },
  funnel: { summary: `Distinct recipients reaching each stage (${FUNNEL_STAGES.join(' → ')}), with the conversion from the previous stage and from the first.`, params: [] },
  ratios: { summary: `Ratios of event counts: ${Object.entries(RATIOS).map(([name, r]) => `${name} = ${r.numerator} ÷ ${r.denominator}`).join('; ')}. null when the denominator is 0.`, params: [] },
  consumers: { summary: 'Who consumes the badges: events by action, actor and edApp, most first.', params: [param('action', 'comma-separated actions (default Verified,Accessed,Accepted)', { type: 'string' })] },
  'time-to-earn': {
    summary: 'Percentiles (nearest rank) of the seconds from a recipient’s first Assigned or Applied of the badge class (else their first learning event) to their first Issued, for recipients first issued within the range.',
    params: [],
  },
  'top-badges': {
    summary: 'Badge classes ranked by a measure: an action (its events), recipients:<action> (distinct recipients) or a ratio; badge classes where it is 0 or undefined are left out.',
    params: [param('by', 'the measure', { type: 'string' }, true), param('limit', `how many (1–${MAX_TOP_LIMIT}, default 10)`, { type: 'integer', minimum: 1, maximum: MAX_TOP_LIMIT })],
  },
  summary: { summary: 'One badge class: events, distinct recipients and actors per action, its ratios, funnel and time to earn.', params: [] },
};

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [kind, { summary, params }] of Object.entries(DESCRIPTIONS) as [QueryKind, (typeof DESCRIPTIONS)[QueryKind]][]) {
    paths[`/reports/${kind}`] = {
      get: {
        operationId: kind.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
        summary,
        security: [{ reader: [] }],
        parameters: [...COMMON.filter((p) => kind !== 'summary' || p.name !== 'badgeClass'), ...(kind === 'summary' ? [param('badgeClass', 'the badge class (IRI)', { type: 'string' }, true)] : []), ...params],
        responses: {
          '200': {
            description: 'the report; as CSV (a header row, then the rows) with format=csv or Accept: text/csv, with its Content-Length, so that a download can show its progress',
            content: { 'application/json': { schema: { $ref: `#/components/schemas/${kind}` } }, 'text/csv': { schema: { type: 'string' } } },
          },
          ...ERRORS,
        },
      },
    };
  }
  paths['/exports/xapi'] = {
    get: {
      operationId: 'xapiStatements',
      summary: 'The badge events of the range as xAPI statements (a JSON array, downloaded): Issued as http://id.tincanapi.com/verb/earned, objects of type http://activitystrea.ms/schema/1.0/badge.',
      security: [{ reader: [] }],
      parameters: COMMON.filter((p) => p.name !== 'format'),
      responses: { '200': { description: 'the statements', content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/xapiStatement' } } } } }, ...ERRORS },
    },
  };
  paths['/exports/xapi/status'] = {
    get: {
      operationId: 'xapiPushStatus',
      summary: 'How far the push of this tenant’s statements to the configured LRS got: what the LRS took, what waits, the slice in flight.',
      security: [{ reader: [] }],
      responses: { '200': { description: 'the connectors of this tenant (none, or the one configured)', content: { 'application/json': { schema: { $ref: '#/components/schemas/xapiPushStatus' } } } }, ...ERRORS },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Badgestream reporting API', version: '1', description: 'Badge usage analytics from pre-aggregated rollups. The tenant is the one of the reader key; no parameter can name another.' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: { reader: { type: 'http', scheme: 'bearer', description: 'a key of scope reader: badgestream keys create --tenant NAME --scope reader' } },
      schemas: { ...RESPONSE_SCHEMAS, problem: problemSchema, xapiStatement: XAPI_STATEMENT, xapiPushStatus: XAPI_PUSH_STATUS },
    },
    paths,
  };
}

const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/problem' } } } });
const ERRORS = {
  '400': problemResponse('the query cannot be answered as asked: errors names each parameter (/name) and what to change'),
  '401': problemResponse('no or an unknown bearer token'),
  '403': problemResponse('the key is not of scope reader'),
};
