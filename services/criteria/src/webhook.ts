import { createHmac } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Effect, Provenance } from '@badgestream/criteria';

/**
 * Award requests to an issuer's webhook: the payload, its signature, one POST, and how its
 * answer decides what happens next. The dispatcher does the bookkeeping (outbox, retries).
 */

/** The body POSTed to the issuer, the same on every attempt of a delivery. */
export interface WebhookPayload {
  /** The effect id, also sent as `badgestream-delivery`: the issuer's idempotency key. */
  id: string;
  type: Effect['kind'];
  tenant: string;
  learner: string;
  badgeClass: string;
  criteriaVersion: number;
  /** The award this is about; a revocation or expiry names the award it ends. */
  awardId: string;
  /** When the criteria were met (award), stopped being met (revoke), or the award expired. */
  occurredAt: string;
  /** Why the award ends (revoke, expire). */
  reason?: string;
  /** When the award expires, if its criteria say so (award). */
  expiresAt?: string;
  /** Which events satisfied which requirement: of this award, or of the award being revoked. */
  provenance?: Provenance;
  /** The events that broke the criteria, and the requirements no longer met (revoke). */
  brokenBy?: string[];
  unmet?: string[];
  /** The event whose processing produced this effect. */
  causedBy: string;
  /** The Caliper BadgeEvent published to caliper.events for the same effect. */
  event: Record<string, unknown>;
}

export function webhookPayload(effect: Effect, event: Record<string, unknown>): WebhookPayload {
  const common = {
    id: effect.id,
    type: effect.kind,
    tenant: effect.tenant,
    learner: effect.learner,
    badgeClass: effect.badgeClass,
    criteriaVersion: effect.criteriaVersion,
    awardId: effect.awardId,
    causedBy: effect.causedBy,
  };
  switch (effect.kind) {
    case 'award':
      return { ...common, occurredAt: effect.awardedAt, ...(effect.expiresAt ? { expiresAt: effect.expiresAt } : {}), provenance: effect.provenance, event };
    case 'revoke':
      return { ...common, occurredAt: effect.revokedAt, reason: effect.reason, brokenBy: effect.brokenBy, unmet: effect.unmet, provenance: effect.awardProvenance, event };
    case 'expire':
      return { ...common, occurredAt: effect.expiredAt, reason: 'expired', event };
  }
}

/**
 * `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the tenant's secret (the whole
 * `whsec_…` string, as UTF-8). The timestamp is signed too, so a captured delivery cannot be
 * replayed later with a fresh timestamp.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type WebhookOutcome = 'delivered' | 'retry' | 'failed';

/** 2xx delivered; 408, 429 and 5xx are worth another try; anything else (4xx, 3xx: redirects are not followed) will not get better. */
export function classifyStatus(status: number): WebhookOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'failed';
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: after the n-th failed attempt, a wait drawn uniformly
 * from [0, min(max, base × 2^(n-1))), so retrying dispatchers spread out instead of stampeding.
 */
export function backoffDelayMs(failedAttempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 40));
  return Math.floor(random() * ceiling);
}

/** A `Retry-After` header (delay in seconds, or an HTTP date) in milliseconds from now. */
export function parseRetryAfter(header: string | undefined, now: number = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before the next attempt: the backoff, or longer when the issuer asked for it with Retry-After (up to the policy's max). */
export function retryDelayMs(failedAttempts: number, policy: BackoffPolicy, retryAfterMs?: number, random?: () => number): number {
  const backoff = backoffDelayMs(failedAttempts, policy, random);
  return retryAfterMs === undefined ? backoff : Math.min(policy.maxMs, Math.max(backoff, retryAfterMs));
}

export interface WebhookRequest {
  url: string;
  secret: string;
  /** The effect id: sent as `badgestream-delivery`. */
  deliveryId: string;
  body: string;
  timeoutMs: number;
  /** Allow loopback, private and link-local destinations (a local issuer, tests); refused otherwise. */
  allowPrivateAddresses: boolean;
}

export interface WebhookResult {
  outcome: WebhookOutcome;
  /** The HTTP status, when the issuer answered. */
  status?: number;
  error?: string;
  /** From the answer's Retry-After. */
  retryAfterMs?: number;
  ms: number;
}

const USER_AGENT = 'Badgestream-Webhook/1';
const MAX_ERROR_BODY = 2048;

/** POSTs one signed delivery and classifies the answer. Never throws: a network error or timeout is a `retry`. */
export async function postWebhook(request: WebhookRequest): Promise<WebhookResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const url = new URL(request.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { outcome: 'failed', error: `not an http(s) URL: ${url.protocol}`, ms: elapsed() };
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (!request.allowPrivateAddresses && net.isIP(literal) && isPrivateAddress(literal)) {
      return { outcome: 'failed', error: blockedMessage(literal), ms: elapsed() };
    }
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(request.body)),
      'user-agent': USER_AGENT,
      'badgestream-delivery': request.deliveryId,
      'badgestream-timestamp': String(timestamp),
      'badgestream-signature': signWebhook(request.secret, timestamp, request.body),
    };
    const answer = await send(url, headers, request.body, request.timeoutMs, request.allowPrivateAddresses ? undefined : guardedLookup);
    const outcome = classifyStatus(answer.status);
    const retryAfterMs = parseRetryAfter(answer.retryAfter);
    return {
      outcome,
      status: answer.status,
      ...(outcome === 'delivered' ? {} : { error: `HTTP ${answer.status}${answer.body ? `: ${answer.body.slice(0, 200)}` : ''}` }),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ms: elapsed(),
    };
  } catch (error) {
    if (error instanceof BlockedDestinationError) return { outcome: 'failed', error: error.message, ms: elapsed() };
    return { outcome: 'retry', error: (error as Error).message || String(error), ms: elapsed() };
  }
}

function send(url: URL, headers: Record<string, string>, body: string, timeoutMs: number, lookup: net.LookupFunction | undefined): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, { method: 'POST', headers, agent: false, ...(lookup ? { lookup } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(timer);
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, ...(retryAfter ? { retryAfter } : {}), body: Buffer.concat(chunks).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        // Only the start of an answer is kept (for the attempt log); a large one is cut off.
        if (size < MAX_ERROR_BODY) chunks.push(chunk.subarray(0, MAX_ERROR_BODY - size));
        size += chunk.length;
        if (size >= MAX_ERROR_BODY) {
          res.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', done);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}

/** A destination refused by the private-address protection: permanent, the URL must change. */
class BlockedDestinationError extends Error {}

function blockedMessage(address: string): string {
  return `refused: the webhook URL leads to ${address}, a loopback, private or link-local address (set CRITERIA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true to allow it)`;
}

const PRIVATE_RANGES = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv6');
}

/** Loopback, private, shared, link-local, multicast and reserved addresses: not where an issuer's public webhook lives. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  return PRIVATE_RANGES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** dns.lookup, refusing private addresses: checked on the address actually connected to, so DNS rebinding cannot slip past. */
const guardedLookup = ((hostname: string, options: dns.LookupOptions, callback: (error: Error | null, address: string | dns.LookupAddress[], family?: number) => void) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const blocked = addresses.find((a) => isPrivateAddress(a.address));
    if (blocked) return callback(new BlockedDestinationError(blockedMessage(blocked.address)), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(new Error(`${hostname} has no address`), []);
    callback(null, first.address, first.family);
  });
}) as unknown as net.LookupFunction;
