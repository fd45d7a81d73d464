import { MongoClient, type Db } from 'mongodb';
import { UnavailableError } from '../errors.js';

export interface MongoConnection {
  client: MongoClient;
  db: Db;
  checkReady(): Promise<void>;
  close(): Promise<void>;
}

/** Connects lazily-tolerant: the driver reconnects by itself; readiness is a ping. */
export async function connectMongo(uri: string, options: { appName?: string; timeoutMs?: number } = {}): Promise<MongoConnection> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const client = new MongoClient(uri, {
    appName: options.appName ?? 'badgestream',
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
  });
  try {
    await client.connect();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new UnavailableError('mongodb', `cannot connect to MongoDB at ${redactUri(uri)}: ${(error as Error).message}`, error);
  }
  const db = client.db();
  return {
    client,
    db,
    async checkReady() {
      try {
        await db.command({ ping: 1 });
      } catch (error) {
        throw new UnavailableError('mongodb', `MongoDB ping failed: ${(error as Error).message}`, error);
      }
    },
    close: () => client.close(),
  };
}

export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]*)@/, '//***@');
}
