/**
 * Ports: what domain code and services see instead of drivers. Each has a
 * Kafka/MongoDB adapter here and (later) an embedded adapter; one contract test
 * suite runs against every adapter.
 */

export type Scope = 'sensor' | 'consumer' | 'reader' | 'admin';
export const SCOPES: readonly Scope[] = ['sensor', 'consumer', 'reader', 'admin'];

/** One record to append to the event log. `value` is encoded with the topic's registered value schema. */
export interface OutgoingRecord {
  topic: string;
  key: string;
  value: unknown;
  headers: Record<string, string>;
}

export interface EventLog {
  /**
   * Appends all records atomically: when the promise resolves every record is
   * durably acknowledged; when it rejects none of them is visible to consumers.
   */
  publish(records: readonly OutgoingRecord[]): Promise<void>;
  /** Throws when the log cannot be reached. */
  checkReady(): Promise<void>;
  close(): Promise<void>;
}

export interface Tenant {
  name: string;
  createdAt: Date;
}

export interface ApiKey {
  id: string;
  tenant: string;
  scope: Scope;
  label?: string;
  createdAt: Date;
  revokedAt?: Date;
}

export interface Principal {
  tenant: string;
  scope: Scope;
  keyId: string;
}

export interface TenantDirectory {
  createTenant(name: string): Promise<Tenant>;
  listTenants(): Promise<Tenant[]>;
  /** Returns the key's metadata and the token, which is shown once and stored only as a hash. */
  createKey(tenant: string, scope: Scope, label?: string): Promise<{ key: ApiKey; token: string }>;
  listKeys(tenant: string): Promise<ApiKey[]>;
  revokeKey(keyId: string): Promise<ApiKey>;
  /** The principal behind a bearer token, or undefined for an unknown, malformed or revoked token. */
  authenticate(token: string): Promise<Principal | undefined>;
  checkReady(): Promise<void>;
}
