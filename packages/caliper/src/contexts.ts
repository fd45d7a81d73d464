import jsonld from 'jsonld';
import type { DataVersion } from './schema-validation.js';
import { joinPointer, type EnvelopeProblem } from './problems.js';

export const CALIPER_CONTEXTS: Readonly<Record<DataVersion, string>> = {
  v1p1: 'http://purl.imsglobal.org/ctx/caliper/v1p1',
  v1p2: 'http://purl.imsglobal.org/ctx/caliper/v1p2',
};

interface TermDefinition {
  '@id'?: string;
}
interface ActiveContext {
  mappings: Map<string, TermDefinition>;
}
interface RemoteDocument {
  contextUrl: null;
  document: object;
  documentUrl: string;
}
type ProcessContext = (active: ActiveContext | null, local: unknown, options: { documentLoader: (url: string) => Promise<RemoteDocument> }) => Promise<ActiveContext>;

// Typed view of jsonld.processContext, which the type definitions leave out.
const processContext = (jsonld as unknown as { processContext: ProcessContext }).processContext;

/** A context IRI that is not bundled: Badgestream never fetches one. */
export class UnknownContextError extends Error {
  constructor(readonly iri: string) {
    super(`remote context ${JSON.stringify(iri)} is not bundled with Badgestream, which never fetches contexts`);
  }
}

/**
 * Checks the `@context` of top-level events and entities without the network.
 *
 * The common case, the plain Caliper context IRI, costs one string comparison.
 * Anything else (an array with extra terms, an inline context) is processed once
 * with jsonld against the bundled contexts only and cached by its text: the check
 * is that every referenced context is bundled and that no Caliper term is bound to
 * a different IRI than the Caliper context binds it to.
 */
export class ContextChecker {
  private readonly bundled: ReadonlyMap<string, object>;
  private readonly caliperTerms = new Map<DataVersion, Promise<Map<string, string | undefined>>>();
  private readonly verdicts = new Map<string, Promise<string[]>>();
  private static readonly MAX_CACHED = 1000;
  private processed = 0;

  constructor(bundled: Record<string, object>) {
    this.bundled = new Map(Object.entries(bundled));
    for (const iri of Object.values(CALIPER_CONTEXTS)) {
      if (!this.bundled.has(iri)) throw new Error(`the Caliper context ${iri} is not among the bundled contexts`);
    }
  }

  /** How many contexts went through jsonld so far: the plain Caliper context never does, others once each. */
  get processedContexts(): number {
    return this.processed;
  }

  /** IRIs of every bundled context, for error messages and the configuration document. */
  get bundledIris(): string[] {
    return [...this.bundled.keys()];
  }

  async check(context: unknown, version: DataVersion, pointer: string): Promise<EnvelopeProblem[]> {
    if (context === CALIPER_CONTEXTS[version]) return [];
    if (context === undefined) return [];
    const key = JSON.stringify(context);
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = this.judge(context, version);
      if (this.verdicts.size >= ContextChecker.MAX_CACHED) this.verdicts.clear();
      this.verdicts.set(key, verdict);
    }
    const reasons = await verdict;
    return reasons.map((reason) => ({ pointer: joinPointer(pointer, '@context'), reason }));
  }

  private async judge(context: unknown, version: DataVersion): Promise<string[]> {
    const reasons: string[] = [];
    const entries = Array.isArray(context) ? context : [context];
    for (const entry of entries) {
      if (typeof entry === 'string' && !this.bundled.has(entry)) reasons.push(new UnknownContextError(entry).message);
    }
    if (reasons.length > 0) return reasons;
    let active: ActiveContext;
    try {
      active = await this.process(context);
    } catch (error) {
      if (error instanceof UnknownContextError) return [error.message];
      const unknown = findUnknownContext(error);
      if (unknown) return [new UnknownContextError(unknown).message];
      return [`is not a valid JSON-LD context: ${(error as Error).message}`];
    }
    const caliper = await this.termsOf(version);
    for (const [term, iri] of caliper) {
      const mine = active.mappings.get(term);
      if (mine && mine['@id'] !== iri) {
        reasons.push(`redefines the Caliper term ${JSON.stringify(term)} as ${JSON.stringify(mine['@id'])}; Caliper terms may not be redefined`);
      }
    }
    return reasons;
  }

  private termsOf(version: DataVersion): Promise<Map<string, string | undefined>> {
    let terms = this.caliperTerms.get(version);
    if (!terms) {
      terms = this.process(CALIPER_CONTEXTS[version]).then((active) => new Map([...active.mappings].map(([term, def]) => [term, def['@id']])));
      this.caliperTerms.set(version, terms);
    }
    return terms;
  }

  private async process(context: unknown): Promise<ActiveContext> {
    this.processed++;
    const documentLoader = async (url: string): Promise<RemoteDocument> => {
      const document = this.bundled.get(url);
      if (!document) throw new UnknownContextError(url);
      return { contextUrl: null, document, documentUrl: url };
    };
    const initial = await processContext(null, null, { documentLoader });
    return processContext(initial, context, { documentLoader });
  }
}

/** jsonld wraps loader errors; dig the IRI back out. */
function findUnknownContext(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof UnknownContextError) return current.iri;
    const details = (current as { details?: { cause?: unknown; url?: string } }).details;
    if (details?.cause instanceof UnknownContextError) return details.cause.iri;
    current = details?.cause ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}
