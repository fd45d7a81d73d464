/**
 * The two stores every repository (port) runs on: the stack's MongoDB-wire server and the
 * embedded document store. A repository's contract suite runs against both:
 * `describe.each(STORES)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from 'mongodb';
import { EmbeddedDocumentStore, connectMongo } from '@badgestream/platform';
import { requireStack } from './stack.js';

export const STORES = ['mongodb', 'embedded'] as const;
export type StoreKind = (typeof STORES)[number];

export interface OpenedStore {
  kind: StoreKind;
  db: Db;
  /** Closes and opens the store again (embedded: rebuilt from its data directory), as a restart would. */
  reopen(): Promise<Db>;
  close(): Promise<void>;
}

export async function openStore(kind: StoreKind): Promise<OpenedStore> {
  if (kind === 'mongodb') {
    const stack = await requireStack();
    let mongo = await connectMongo(stack.mongodbUri);
    const opened: OpenedStore = {
      kind,
      db: mongo.db,
      async reopen() {
        await mongo.close();
        mongo = await connectMongo(stack.mongodbUri);
        return (opened.db = mongo.db);
      },
      close: () => mongo.close(),
    };
    return opened;
  }
  const directory = mkdtempSync(path.join(tmpdir(), 'badgestream-store-'));
  let store = EmbeddedDocumentStore.open(directory);
  const opened: OpenedStore = {
    kind,
    db: store.db(),
    async reopen() {
      store.close();
      store = EmbeddedDocumentStore.open(directory);
      return (opened.db = store.db());
    },
    async close() {
      store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return opened;
}
