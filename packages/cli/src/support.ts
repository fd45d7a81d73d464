import { InvalidArgumentError } from 'commander';
import type { Db } from 'mongodb';
import { MongoTenantDirectory, NotFoundError, commonOptions, connectMongo, loadConfig } from '@badgestream/platform';

/** Runs work against the MongoDB of MONGODB_URI and closes the connection after. */
export async function withMongo(work: (db: Db) => Promise<void>): Promise<void> {
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
