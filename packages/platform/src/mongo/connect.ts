import { MongoClient, type Db } from 'mongodb';
import { UnavailableError } from '../errors.js';

export interface MongoConnection {
  client: MongoClient;
  db: Db;
  checkReady(): Promise<void>;
  close(): Promise<void>;
}

/** Connections per process to MongoDB when the URI has no `maxPoolSize`. */
export const DEFAULT_MAX_POOL_SIZE = 10;

/** Connects lazily-tolerant: the driver reconnects by itself; readiness is a ping. */
export async function connectMongo(uri: string, options: { appName?: string; timeoutMs?: number } = {}): Promise<MongoConnection> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const client = new MongoClient(uri, {
    // A small pool per process unless the URI says otherwise: FerretDB 1.24 serves every client
    // connection's operation from a fixed pool of 50 PostgreSQL connections, and deadlocks when
    // all 50 wait on an operation that needs one more (seen with two criteria consumers and a
    // test process at the driver's default of 100). Operations beyond the pool wait in the driver.
    ...(/[?&]maxPoolSize=/i.test(uri) ? {} : { maxPoolSize: DEFAULT_MAX_POOL_SIZE }),
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
