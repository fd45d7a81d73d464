import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { Binary } from 'mongodb';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/**
 * A large value stored as one opaque field: its JSON, deflated. For what is only ever read whole
 * and is large enough for the deflate to pay (a slice of events; small values such as a learner's
 * progress are kept as JSON text, which costs FerretDB as little and the consumer less):
 *
 * - FerretDB converts every field of a document to and from PostgreSQL's jsonb, so a deep value
 *   costs it in proportion to its fields; one binary field costs it next to nothing. A slice of a
 *   hundred events took three times as long to insert as fields, and twenty times as long to read
 *   back, as it does packed.
 * - Caliper keys may hold '.' or start with '$' (extension IRIs, JSON-LD), which FerretDB refuses
 *   as document keys; inside a packed value any key goes.
 * - Events are repetitive JSON: a slice deflates to a tenth.
 *
 * Compression runs on libuv's thread pool, off the event loop.
 */
export type Packed = Binary;

export async function pack(value: unknown): Promise<Packed> {
  return new Binary(await deflate(JSON.stringify(value), { level: 1 }));
}

export async function unpack<T>(packed: Packed): Promise<T> {
  return JSON.parse((await inflate(packed.buffer)).toString('utf8')) as T;
}

/**
 * A small value stored as one field of JSON text (a learner's progress, an effect), for the same
 * reasons as pack without the cost of deflating each one; fromText reads it back, and also a
 * value stored before as fields.
 */
export function asText(value: unknown): string {
  return JSON.stringify(value);
}

export function fromText<T>(stored: string | T): T {
  return typeof stored === 'string' ? (JSON.parse(stored) as T) : stored;
}
