import { createHmac } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * Outbound HTTP for calls Badgestream makes to other people's servers (issuer webhooks, the
 * relay's badge-object fetches and report deliveries): one request with a timeout and a size
 * limit, refused before connecting when it leads to a loopback, private or link-local address,
 * and the retry vocabulary shared by every caller (classification, backoff with full jitter,
 * Retry-After, HMAC signatures).
 */

export type OutboundOutcome = 'delivered' | 'retry' | 'failed';

/** 2xx delivered; 408, 429 and 5xx are worth another try; anything else (4xx, 3xx: redirects are not followed) will not get better. */
export function classifyStatus(status: number): OutboundOutcome {
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
 * from [0, min(max, base × 2^(n-1))), so retrying senders spread out instead of stampeding.
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

/** The wait before the next attempt: the backoff, or longer when the server asked for it with Retry-After (up to the policy's max). */
export function retryDelayMs(failedAttempts: number, policy: BackoffPolicy, retryAfterMs?: number, random?: () => number): number {
  const backoff = backoffDelayMs(failedAttempts, policy, random);
  return retryAfterMs === undefined ? backoff : Math.min(policy.maxMs, Math.max(backoff, retryAfterMs));
}

/**
 * `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the shared secret (as UTF-8). The
 * timestamp is signed too, so a captured request cannot be replayed later with a fresh timestamp.
 */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Where outbound requests may go. */
export interface DestinationPolicy {
  /** Allow every loopback, private and link-local destination (a local issuer, tests). */
  allowPrivateAddresses: boolean;
  /** `host:port` pairs allowed even though they are private (a test's local receiver); the rest stays refused. */
  allowedPrivateHosts?: readonly string[];
  /** How to allow a refused destination, appended to the refusal (e.g. the setting to change). */
  hint: string;
}

/** A destination refused by the private-address protection: permanent, the URL must change. */
export class BlockedDestinationError extends Error {
  override readonly name = 'BlockedDestinationError';
}

export interface OutboundRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Largest answer kept, in bytes. */
  maxBytes: number;
  /** What a larger answer does: `truncate` keeps its start, `fail` makes the request fail. */
  oversize: 'truncate' | 'fail';
  destinations: DestinationPolicy;
}

export interface OutboundAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An answer larger than the request's `maxBytes` with `oversize: 'fail'`: permanent for that URL. */
export class OversizeAnswerError extends Error {
  override readonly name = 'OversizeAnswerError';
}

/**
 * One HTTP request, no redirects followed. Rejects with BlockedDestinationError (a private
 * destination, checked on the literal host and on every address DNS gives for a name, so DNS
 * rebinding cannot slip past), OversizeAnswerError, or the network error or timeout.
 */
export async function outboundRequest(request: OutboundRequest): Promise<OutboundAnswer> {
  const url = new URL(request.url);
  const refusal = destinationRefusal(url, request.destinations);
  if (refusal) throw new BlockedDestinationError(refusal);
  const guarded = !destinationAllowed(url, request.destinations);
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, { method: request.method, headers, agent: false, ...(guarded ? { lookup: guardedLookup(url, request.destinations) } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      };
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (size + chunk.length > request.maxBytes) {
          if (request.oversize === 'fail') {
            settled = true;
            clearTimeout(timer);
            res.destroy();
            reject(new OversizeAnswerError(`the answer of ${url.href} is larger than ${request.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk.subarray(0, request.maxBytes - size));
          size = request.maxBytes;
          res.destroy();
          done();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', done);
      res.on('error', done);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${request.timeoutMs} ms from ${url.host}`)), request.timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(request.body);
  });
}

/**
 * Why a URL is refused before any connection: not http(s), or a literal loopback, private or
 * link-local address the policy does not allow. Undefined when it may be tried (a host name is
 * checked again on the addresses DNS gives, when connecting).
 */
export function destinationRefusal(target: string | URL, policy: DestinationPolicy): string | undefined {
  let url: URL;
  try {
    url = typeof target === 'string' ? new URL(target) : target;
  } catch {
    return `refused: ${JSON.stringify(String(target))} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `refused: ${url.href} is not an http(s) URL`;
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!destinationAllowed(url, policy) && net.isIP(literal) && isPrivateAddress(literal)) return blockedMessage(url, literal, policy);
  return undefined;
}

function destinationAllowed(url: URL, policy: DestinationPolicy): boolean {
  if (policy.allowPrivateAddresses) return true;
  if (!policy.allowedPrivateHosts || policy.allowedPrivateHosts.length === 0) return false;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return policy.allowedPrivateHosts.includes(`${url.hostname}:${port}`);
}

function blockedMessage(url: URL, address: string, policy: DestinationPolicy): string {
  return `refused: ${url.origin} leads to ${address}, a loopback, private or link-local address (${policy.hint})`;
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

/** Loopback, private, shared, link-local, multicast and reserved addresses: not where a public server lives. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  return PRIVATE_RANGES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** dns.lookup, refusing private addresses: checked on the address actually connected to. */
function guardedLookup(url: URL, policy: DestinationPolicy): net.LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (error: Error | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const blocked = addresses.find((a) => isPrivateAddress(a.address));
      if (blocked) return callback(new BlockedDestinationError(blockedMessage(url, blocked.address, policy)), []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), []);
      callback(null, first.address, first.family);
    });
  }) as unknown as net.LookupFunction;
}
