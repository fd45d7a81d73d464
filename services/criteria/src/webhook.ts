import {
  BlockedDestinationError,
  backoffDelayMs,
  classifyStatus,
  isPrivateAddress,
  outboundRequest,
  parseRetryAfter,
  retryDelayMs,
  signPayload,
  type BackoffPolicy,
  type OutboundOutcome,
} from '@badgestream/platform';
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

/** The signature of a webhook delivery: see signPayload, keyed with the tenant's whole `whsec_…` secret. */
export const signWebhook = signPayload;

export { backoffDelayMs, classifyStatus, isPrivateAddress, parseRetryAfter, retryDelayMs };
export type { BackoffPolicy };

export type WebhookOutcome = OutboundOutcome;

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
    const answer = await outboundRequest({
      method: 'POST',
      url: request.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'badgestream-delivery': request.deliveryId,
        'badgestream-timestamp': String(timestamp),
        'badgestream-signature': signWebhook(request.secret, timestamp, request.body),
      },
      body: request.body,
      timeoutMs: request.timeoutMs,
      // Only the start of an answer is kept (for the attempt log); a large one is cut off.
      maxBytes: MAX_ERROR_BODY,
      oversize: 'truncate',
      destinations: { allowPrivateAddresses: request.allowPrivateAddresses, hint: 'set CRITERIA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true to allow it' },
    });
    const outcome = classifyStatus(answer.status);
    const header = answer.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header);
    const body = answer.body.toString('utf8');
    return {
      outcome,
      status: answer.status,
      ...(outcome === 'delivered' ? {} : { error: `HTTP ${answer.status}${body ? `: ${body.slice(0, 200)}` : ''}` }),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ms: elapsed(),
    };
  } catch (error) {
    if (error instanceof BlockedDestinationError) return { outcome: 'failed', error: error.message, ms: elapsed() };
    return { outcome: 'retry', error: (error as Error).message || String(error), ms: elapsed() };
  }
}
