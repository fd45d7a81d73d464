export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * One endpoint's circuit breaker: after `failures` failed envelopes in a row it opens, and no
 * envelope is sent (nor attempt spent) until `cooldownMs` have passed; then one trial envelope
 * goes out (half-open): a success closes the breaker, a failure opens it again.
 */
export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.consecutiveFailures < this.failures) return 'closed';
    return this.now() >= this.openUntil ? 'half-open' : 'open';
  }

  /** Whether an envelope may be sent now; in half-open state only one (the trial) at a time. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  /** When an open breaker lets a trial through (0 when closed). */
  get retryAt(): number {
    return this.state === 'closed' ? 0 : this.openUntil;
  }

  success(): void {
    this.consecutiveFailures = 0;
    this.trialInFlight = false;
  }

  failure(): void {
    this.consecutiveFailures++;
    this.trialInFlight = false;
    if (this.consecutiveFailures >= this.failures) this.openUntil = this.now() + this.cooldownMs;
  }

  /** The envelope ended neither way (a refusal that says nothing of the endpoint's health). */
  release(): void {
    this.trialInFlight = false;
  }
}
