import { InvalidArgumentError } from 'commander';
import type { Db } from 'mongodb';
import { commonOptions, connectMongo, loadConfig } from '@badgestream/platform';

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
