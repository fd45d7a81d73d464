import type { CaliperEvent, Entity } from '@badgestream/schemas';
import { CALIPER_CONTEXTS, type ContextChecker } from './contexts.js';
import { resolveLearner } from './learner.js';
import { joinPointer, type EnvelopeProblem } from './problems.js';
import { checkStructure, type StructureLimits } from './structure.js';
import { isEventType, type DataVersion, type SchemaIssue, type SchemaValidator } from './schema-validation.js';

export interface AcceptedEvent {
  index: number;
  id: string;
  type: string;
  action: string;
  learner: string;
  event: CaliperEvent;
}

export interface AcceptedEntity {
  index: number;
  id: string;
  type: string;
  entity: Entity;
}

export type EnvelopeInspection =
  | { ok: true; dataVersion: DataVersion; sensor: string; sendTime: string; events: AcceptedEvent[]; entities: AcceptedEntity[] }
  | { ok: false; status: 400 | 422; title: string; problems: EnvelopeProblem[] };

const DATA_VERSIONS: Readonly<Record<string, DataVersion>> = {
  [CALIPER_CONTEXTS.v1p2]: 'v1p2',
  [CALIPER_CONTEXTS.v1p1]: 'v1p1',
};

export const SUPPORTED_DATA_VERSIONS = Object.keys(DATA_VERSIONS);

export interface EnvelopeInspectorOptions {
  validator: SchemaValidator;
  contexts: ContextChecker;
  limits?: Partial<StructureLimits>;
}

/**
 * Decides whether a parsed request body is a Caliper envelope Badgestream accepts,
 * and if not, says everything that is wrong with it, by item index and JSON pointer.
 * Pure apart from the context cache: no I/O.
 */
export class EnvelopeInspector {
  private readonly limits: StructureLimits;

  constructor(private readonly options: EnvelopeInspectorOptions) {
    this.limits = { maxDepth: options.limits?.maxDepth ?? 32 };
  }

  async inspect(body: unknown): Promise<EnvelopeInspection> {
    const structural = checkStructure(body, this.limits);
    if (structural.length > 0) return reject(400, 'The body is not an acceptable JSON document', structural);
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return reject(400, 'The body is not a Caliper envelope', [{ pointer: '', reason: 'must be a JSON object with sensor, sendTime, dataVersion and data' }]);
    }
    const envelope = body as Record<string, unknown>;
    const envelopeIssues = this.options.validator.envelope(envelope);
    if (typeof envelope.dataVersion === 'string' && !(envelope.dataVersion in DATA_VERSIONS)) {
      return reject(422, 'Unsupported Caliper dataVersion', [
        { pointer: '/dataVersion', reason: `${JSON.stringify(envelope.dataVersion)} is not supported; use one of ${SUPPORTED_DATA_VERSIONS.join(', ')}` },
      ]);
    }
    if (envelopeIssues.length > 0) return reject(400, 'The envelope is malformed', envelopeIssues.map((i) => located(i, '')));

    const dataVersion = DATA_VERSIONS[envelope.dataVersion as string]!;
    const data = envelope.data as unknown[];
    const problems: EnvelopeProblem[] = [];
    const events: AcceptedEvent[] = [];
    const entities: AcceptedEntity[] = [];
    // Events must have distinct ids; entity describes may repeat one (the later describe wins).
    const firstIndexOfEventId = new Map<string, number>();

    for (let index = 0; index < data.length; index++) {
      const item = data[index] as Record<string, unknown>;
      const base = joinPointer('/data', index);
      const isEvent = isEventType(item.type, dataVersion);
      const issues = isEvent ? this.options.validator.event(item, dataVersion) : this.options.validator.entity(item, dataVersion);
      for (const issue of issues) problems.push({ index, ...located(issue, base) });
      for (const p of await this.options.contexts.check(item['@context'], dataVersion, base)) problems.push({ index, ...p });
      if (issues.length > 0) continue;

      const id = item.id as string;
      if (isEvent) {
        const first = firstIndexOfEventId.get(id);
        if (first !== undefined) {
          problems.push({ index, pointer: joinPointer(base, 'id'), reason: `duplicates the event id of /data/${first}; each event of an envelope needs its own id` });
          continue;
        }
        firstIndexOfEventId.set(id, index);
        events.push({ index, id, type: item.type as string, action: item.action as string, learner: resolveLearner(item), event: item as CaliperEvent });
      } else {
        entities.push({ index, id, type: item.type as string, entity: item as unknown as Entity });
      }
    }
    if (problems.length > 0) {
      const failing = new Set(problems.map((p) => p.index)).size;
      return reject(400, `${failing} of ${data.length} items of the envelope are invalid; nothing was accepted`, problems);
    }
    return { ok: true, dataVersion, sensor: envelope.sensor as string, sendTime: envelope.sendTime as string, events, entities };
  }
}

function located(issue: SchemaIssue, base: string): EnvelopeProblem {
  return { pointer: base + issue.pointer, reason: issue.reason };
}

function reject(status: 400 | 422, title: string, problems: EnvelopeProblem[]): EnvelopeInspection {
  return { ok: false, status, title, problems };
}
