import { InvalidArgumentError } from 'commander';
import type { Db } from 'mongodb';
import { MongoTenantDirectory, NotFoundError, commonOptions, connectMongo, loadConfig } from '@badgestream/platform';
import { openEmbedded } from './start.js';

/**
 * Runs work against the MongoDB of MONGODB_URI and closes the connection after; without
 * MONGODB_URI, against the embedded store of BADGESTREAM_DATA_DIR, which must not be in use by a
 * running `badgestream start`.
 */
export async function withMongo(work: (db: Db) => Promise<void>): Promise<void> {
  if (!process.env.MONGODB_URI) {
    const embedded = openEmbedded(process.env, loadConfig({ topicPartitions: commonOptions.topicPartitions }).topicPartitions);
    try {
      await work(embedded.store.db());
    } finally {
      await embedded.close();
    }
    return;
  }
  const { mongodbUri } = loadConfig({ mongodbUri: commonOptions.mongodbUri });
  const mongo = await connectMongo(mongodbUri, { appName: 'badgestream-cli' });
  try {
    await work(mongo.db);
  } finally {
    await mongo.close();
  }
}

export function positiveInteger(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${raw}`);
  return n;
}

export function nonNegativeInteger(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got ${raw}`);
  return n;
}

/** Runs work against MongoDB for an existing tenant; NotFoundError (with how to create it) otherwise. */
export async function withTenant(tenant: string, work: (db: Db) => Promise<void>): Promise<void> {
  await withMongo(async (db) => {
    if (!(await new MongoTenantDirectory(db).listTenants()).some((t) => t.name === tenant)) {
      throw new NotFoundError(`tenant ${tenant} does not exist; create it with: badgestream tenants create ${tenant}`);
    }
    await work(db);
  });
}
