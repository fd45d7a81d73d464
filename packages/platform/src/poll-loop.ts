/**
 * A background loop that does one round of work, then waits `pollMs` (or less, when nudged)
 * unless the round made progress, until stopped. A failed round is reported and retried at the
 * next poll.
 */
export class PollLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Nudged since the current round started: the next round starts at once, even if this one found nothing. */
  private nudged = false;

  constructor(
    /** One round; true when it did something, so the next round starts at once. */
    private readonly round: () => Promise<boolean>,
    private readonly pollMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Starts the next round now rather than at the next poll. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops after the round in progress. */
  async stop(): Promise<void> {
    this.running = false;
    this.nudge();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let progressed = false;
      // Work that arrives while the round runs (it may have looked before the work was there)
      // nudges the loop: it must not then wait a whole poll.
      this.nudged = false;
      try {
        progressed = await this.round();
      } catch (error) {
        this.onError(error);
      }
      if (!progressed && !this.nudged && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }
}
