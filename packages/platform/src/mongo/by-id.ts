import type { Collection, Document, Filter } from 'mongodb';

/** Single-document lookups in flight at once in findByIds. */
const LOOKUPS_AT_ONCE = 16;

/**
 * The documents of `collection` with these ids (and matching `filter`), looked up one id at a
 * time, a few at once. FerretDB, which the local stack runs, finds a single `_id` through its
 * index but filters an `_id: { $in: [...] }` after reading the whole collection: on a collection
 * that grows with every badge or effect ever recorded, that took minutes at 300,000 documents.
 * For the few ids a request or a replay asks about, one lookup each stays cheap at any size.
 */
export async function findByIds<T extends Document & { _id: string }>(
  collection: Collection<T>,
  ids: Iterable<string>,
  options: { filter?: Filter<T>; projection?: Document } = {},
): Promise<T[]> {
  const unique = [...new Set(ids)];
  const found: T[] = [];
  for (let i = 0; i < unique.length; i += LOOKUPS_AT_ONCE) {
    const docs = await Promise.all(
      unique.slice(i, i + LOOKUPS_AT_ONCE).map((_id) => collection.findOne({ ...(options.filter ?? {}), _id } as Filter<T>, options.projection ? { projection: options.projection } : {})),
    );
    for (const doc of docs) if (doc) found.push(doc as unknown as T);
  }
  return found;
}
