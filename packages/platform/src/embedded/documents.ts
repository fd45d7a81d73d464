import { Binary, Long, ObjectId } from 'mongodb';
import { BadgestreamError } from '../errors.js';

/**
 * The MongoDB subset of ARCHITECTURE.md, evaluated over documents in memory: filters, updates,
 * sorts, projections and the aggregation stages Badgestream uses. Pure functions; the embedded
 * store (document-store.ts) keeps the documents and their journal. Anything outside the subset
 * is refused by name, so a repository that starts using more fails in the embedded contract
 * tests rather than doing something else quietly.
 */

export type Doc = Record<string, unknown>;

export class UnsupportedOperationError extends BadgestreamError {
  constructor(what: string) {
    super(`the embedded store does not support ${what} (the MongoDB subset Badgestream uses is listed in ARCHITECTURE.md)`, { code: 'EMBEDDED_UNSUPPORTED' });
  }
}

/** A deep copy that keeps BSON values (Binary, ObjectId, Long) and Dates as they are. */
export function clone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value instanceof Binary) return new Binary(Buffer.from(value.buffer), value.sub_type) as T;
  if (value instanceof ObjectId || value instanceof Long) return value;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map(clone) as T;
  const out: Doc = {};
  // As the driver stores them (ignoreUndefined off): an undefined field becomes null.
  for (const [k, v] of Object.entries(value)) out[k] = v === undefined ? null : clone(v);
  return out as T;
}

/** The values at a dotted path; arrays along the way are traversed, as MongoDB does in queries. */
function valuesAt(doc: unknown, path: readonly string[]): unknown[] {
  if (path.length === 0) return [doc];
  if (doc === null || typeof doc !== 'object') return [undefined];
  if (Array.isArray(doc)) {
    const index = /^\d+$/.test(path[0]!) ? Number(path[0]) : undefined;
    if (index !== undefined) return valuesAt(doc[index], path.slice(1));
    return doc.flatMap((item) => valuesAt(item, path));
  }
  return valuesAt((doc as Doc)[path[0]!], path.slice(1));
}

export function getPath(doc: Doc, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Doc)[part];
  }
  return current;
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let current = doc;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (next === null || typeof next !== 'object') current[part] = {};
    current = current[part] as Doc;
  }
  current[parts[parts.length - 1]!] = value;
}

function unsetPath(doc: Doc, path: string): void {
  const parts = path.split('.');
  const parent = parts.length === 1 ? doc : getPath(doc, parts.slice(0, -1).join('.'));
  if (parent && typeof parent === 'object') delete (parent as Doc)[parts[parts.length - 1]!];
}

// BSON comparison order of the types the subset meets.
function typeRank(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (typeof value === 'number' || typeof value === 'bigint' || value instanceof Long) return 2;
  if (typeof value === 'string') return 3;
  if (Array.isArray(value)) return 5;
  if (value instanceof Binary || Buffer.isBuffer(value)) return 6;
  if (value instanceof ObjectId) return 7;
  if (typeof value === 'boolean') return 8;
  if (value instanceof Date) return 9;
  return 4;
}

function numeric(value: unknown): number {
  return value instanceof Long ? value.toNumber() : Number(value);
}

/** MongoDB's order of two values: negative, zero or positive. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 1:
      return 0;
    case 2:
      return numeric(a) - numeric(b);
    case 3:
      return compareStrings(a as string, b as string);
    case 6:
      return Buffer.compare(bytesOf(a), bytesOf(b));
    case 7:
      return (a as ObjectId).toHexString().localeCompare((b as ObjectId).toHexString());
    case 8:
      return Number(a) - Number(b);
    case 9:
      return (a as Date).getTime() - (b as Date).getTime();
    case 5: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    default: {
      const x = Object.entries(a as Doc);
      const y = Object.entries(b as Doc);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const keys = compareStrings(x[i]![0], y[i]![0]);
        if (keys !== 0) return keys;
        const c = compareValues(x[i]![1], y[i]![1]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
  }
}

const SURROGATE_OR_ABOVE = /[\uD800-\uFFFF]/;

/**
 * Strings in code point order, which is MongoDB's (it compares UTF-8 bytes). JavaScript's `<`
 * compares UTF-16 code units, which puts a code point past U+FFFF (a surrogate pair, from
 * U+D800) before U+E000-U+FFFF; the two orders agree unless both strings hold such units.
 */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  if (!SURROGATE_OR_ABOVE.test(a) || !SURROGATE_OR_ABOVE.test(b)) return a < b ? -1 : 1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 code unit's place in code point order: surrogates move above U+E000-U+FFFF. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

function bytesOf(value: unknown): Buffer {
  return value instanceof Binary ? Buffer.from(value.buffer) : (value as Buffer);
}

export function equalValues(a: unknown, b: unknown): boolean {
  return typeRank(a) === typeRank(b) && compareValues(a, b) === 0;
}

/** A key for maps of values that are equal by equalValues (the _id index, unique indexes, groups). */
export function keyOf(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (value instanceof Date) return `d:${value.getTime()}`;
  if (value instanceof ObjectId) return `o:${value.toHexString()}`;
  if (value instanceof Binary || Buffer.isBuffer(value)) return `b:${bytesOf(value).toString('base64')}`;
  if (value instanceof Long || typeof value === 'bigint') return `n:${numeric(value)}`;
  if (typeof value === 'number') return `n:${value}`;
  if (typeof value === 'string') return `s:${value}`;
  if (typeof value === 'boolean') return `t:${value}`;
  if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`;
  return `{${Object.entries(value as Doc)
    .map(([k, v]) => `${JSON.stringify(k)}:${keyOf(v)}`)
    .join(',')}}`;
}

const isOperatorObject = (value: unknown): value is Doc =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  !(value instanceof Date) &&
  !(value instanceof Binary) &&
  !(value instanceof ObjectId) &&
  Object.keys(value).length > 0 &&
  Object.keys(value).every((k) => k.startsWith('$'));

/** Whether a document matches a query filter. */
export function matches(doc: Doc, filter: Doc): boolean {
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and') {
      if (!(condition as Doc[]).every((f) => matches(doc, f))) return false;
    } else if (key === '$or') {
      if (!(condition as Doc[]).some((f) => matches(doc, f))) return false;
    } else if (key === '$nor') {
      if ((condition as Doc[]).some((f) => matches(doc, f))) return false;
    } else if (key.startsWith('$')) {
      throw new UnsupportedOperationError(`the query operator ${key}`);
    } else if (!fieldMatches(valuesAt(doc, key.split('.')), condition)) {
      return false;
    }
  }
  return true;
}

function fieldMatches(values: unknown[], condition: unknown): boolean {
  if (!isOperatorObject(condition)) return values.some((v) => equalsOrContains(v, condition));
  for (const [op, operand] of Object.entries(condition)) {
    switch (op) {
      case '$eq':
        if (!values.some((v) => equalsOrContains(v, operand))) return false;
        break;
      case '$ne':
        if (values.some((v) => equalsOrContains(v, operand))) return false;
        break;
      case '$in':
        if (!values.some((v) => (operand as unknown[]).some((o) => equalsOrContains(v, o)))) return false;
        break;
      case '$nin':
        if (values.some((v) => (operand as unknown[]).some((o) => equalsOrContains(v, o)))) return false;
        break;
      case '$exists':
        if (values.some((v) => v !== undefined) !== Boolean(operand)) return false;
        break;
      case '$lt':
      case '$lte':
      case '$gt':
      case '$gte':
        if (!values.some((v) => elements(v).some((e) => inRange(op, e, operand)))) return false;
        break;
      default:
        throw new UnsupportedOperationError(`the query operator ${op}`);
    }
  }
  return true;
}

function elements(value: unknown): unknown[] {
  return Array.isArray(value) ? [value, ...value] : [value];
}

function equalsOrContains(value: unknown, wanted: unknown): boolean {
  return elements(value).some((e) => equalValues(e, wanted));
}

function inRange(op: string, value: unknown, bound: unknown): boolean {
  // Range operators compare within one type only, as MongoDB's do.
  if (value === undefined || typeRank(value) !== typeRank(bound)) return false;
  const c = compareValues(value, bound);
  return op === '$lt' ? c < 0 : op === '$lte' ? c <= 0 : op === '$gt' ? c > 0 : c >= 0;
}

/** The document an upsert starts from: the filter's equality conditions. */
export function seedFromFilter(filter: Doc): Doc {
  const doc: Doc = {};
  for (const [key, condition] of Object.entries(filter)) {
    if (key.startsWith('$')) continue;
    if (!isOperatorObject(condition)) setPath(doc, key, clone(condition));
    else if ('$eq' in condition) setPath(doc, key, clone(condition.$eq));
  }
  return doc;
}

/** Applies an update document (operators) in place; `inserting` applies $setOnInsert too. */
export function applyUpdate(doc: Doc, update: Doc, inserting: boolean): void {
  const entries = Object.entries(update);
  if (entries.length === 0 || !entries.every(([k]) => k.startsWith('$'))) throw new UnsupportedOperationError('an update without operators (use replaceOne)');
  for (const [op, fields] of entries) {
    for (const [path, operand] of Object.entries(fields as Doc)) {
      if (path === '_id' && op !== '$setOnInsert' && !(op === '$set' && equalValues(doc._id, operand)))
        throw new BadgestreamError(`an update may not change _id (${op})`, {
          code: 'IMMUTABLE_FIELD',
        });
      const current = getPath(doc, path);
      switch (op) {
        case '$set':
          setPath(doc, path, operand === undefined ? null : clone(operand));
          break;
        case '$setOnInsert':
          if (inserting) setPath(doc, path, clone(operand));
          break;
        case '$unset':
          unsetPath(doc, path);
          break;
        case '$inc':
          setPath(doc, path, (current === undefined ? 0 : numeric(current)) + numeric(operand));
          break;
        case '$min':
          if (current === undefined || compareValues(operand, current) < 0) setPath(doc, path, clone(operand));
          break;
        case '$max':
          if (current === undefined || compareValues(operand, current) > 0) setPath(doc, path, clone(operand));
          break;
        case '$push':
        case '$addToSet': {
          const list = current === undefined ? [] : Array.isArray(current) ? current : undefined;
          if (!list) throw new BadgestreamError(`${op} on ${path}, which is not an array`, { code: 'NOT_AN_ARRAY' });
          const each = isOperatorObject(operand) ? eachOf(operand, op) : [operand];
          for (const item of each) if (op === '$push' || !list.some((v) => equalValues(v, item))) list.push(clone(item));
          setPath(doc, path, list);
          break;
        }
        default:
          throw new UnsupportedOperationError(`the update operator ${op}`);
      }
    }
  }
}

function eachOf(operand: Doc, op: string): unknown[] {
  for (const modifier of Object.keys(operand)) if (modifier !== '$each') throw new UnsupportedOperationError(`${op} with ${modifier}`);
  return operand.$each as unknown[];
}

export type SortSpec = Record<string, 1 | -1>;

export function sortDocuments(docs: Doc[], sort: SortSpec | undefined): Doc[] {
  if (!sort || Object.keys(sort).length === 0) return docs;
  const keys = Object.entries(sort);
  return docs.sort((a, b) => {
    for (const [path, direction] of keys) {
      const c = compareValues(getPath(a, path), getPath(b, path));
      if (c !== 0) return c * direction;
    }
    return 0;
  });
}

/** Inclusion or exclusion projections, with `_id` included unless excluded. */
export function project(doc: Doc, projection: Doc | undefined): Doc {
  if (!projection || Object.keys(projection).length === 0) return doc;
  const fields = Object.entries(projection);
  const including = fields.some(([k, v]) => k !== '_id' && Boolean(v));
  if (!including) {
    const out = { ...doc };
    for (const [k, v] of fields) if (!v) unsetPath(out, k);
    return out;
  }
  const out: Doc = {};
  if (projection._id !== 0 && projection._id !== false && doc._id !== undefined) out._id = doc._id;
  for (const [k, v] of fields) {
    if (k === '_id') continue;
    if (typeof v === 'string' && v.startsWith('$')) setPath(out, k, getPath(doc, v.slice(1)));
    else if (v) {
      const value = getPath(doc, k);
      if (value !== undefined) setPath(out, k, value);
    } else throw new UnsupportedOperationError('a projection mixing inclusion and exclusion');
  }
  return out;
}

/** The aggregation stages of the subset: $match $group $sort $project $unwind $limit $skip $count. */
export function aggregate(input: Doc[], pipeline: Doc[]): Doc[] {
  let docs = input;
  for (const stage of pipeline) {
    const [name, spec] = Object.entries(stage)[0] ?? [];
    switch (name) {
      case '$match':
        docs = docs.filter((d) => matches(d, spec as Doc));
        break;
      case '$group':
        docs = group(docs, spec as Doc);
        break;
      case '$sort':
        docs = sortDocuments(docs, spec as SortSpec);
        break;
      case '$project':
        docs = docs.map((d) => project(d, spec as Doc));
        break;
      case '$unwind': {
        const path = (typeof spec === 'string' ? spec : ((spec as Doc).path as string)).slice(1);
        docs = docs.flatMap((d) => {
          const value = getPath(d, path);
          if (!Array.isArray(value)) return value === undefined || value === null ? [] : [d];
          return value.map((item) => {
            const copy = { ...d };
            setPath(copy, path, item);
            return copy;
          });
        });
        break;
      }
      case '$limit':
        docs = docs.slice(0, spec as number);
        break;
      case '$skip':
        docs = docs.slice(spec as number);
        break;
      case '$count':
        docs = [{ [spec as string]: docs.length }];
        break;
      default:
        throw new UnsupportedOperationError(`the aggregation stage ${name}`);
    }
  }
  return docs;
}

function expression(doc: Doc, expr: unknown): unknown {
  if (typeof expr === 'string' && expr.startsWith('$')) return getPath(doc, expr.slice(1));
  if (expr !== null && typeof expr === 'object' && !Array.isArray(expr) && !(expr instanceof Date)) {
    const out: Doc = {};
    for (const [k, v] of Object.entries(expr)) {
      if (k.startsWith('$')) throw new UnsupportedOperationError(`the expression operator ${k}`);
      out[k] = expression(doc, v);
    }
    return out;
  }
  return expr;
}

function group(docs: Doc[], spec: Doc): Doc[] {
  const groups = new Map<string, Doc>();
  const accumulators = Object.entries(spec).filter(([k]) => k !== '_id');
  for (const doc of docs) {
    const id = expression(doc, spec._id);
    const key = keyOf(id);
    let out = groups.get(key);
    if (!out) groups.set(key, (out = { _id: id }));
    for (const [field, accumulator] of accumulators) {
      const [op, operand] = Object.entries(accumulator as Doc)[0] ?? [];
      const value = op === '$count' ? 1 : expression(doc, operand);
      switch (op) {
        case '$sum':
        case '$count':
          out[field] = numeric(out[field] ?? 0) + (typeof value === 'number' || value instanceof Long ? numeric(value) : 0);
          break;
        case '$min':
          if (value !== undefined && (out[field] === undefined || compareValues(value, out[field]) < 0)) out[field] = value;
          break;
        case '$max':
          if (value !== undefined && (out[field] === undefined || compareValues(value, out[field]) > 0)) out[field] = value;
          break;
        default:
          throw new UnsupportedOperationError(`the accumulator ${op}`);
      }
    }
  }
  return [...groups.values()];
}
