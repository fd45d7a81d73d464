import type { Criteria } from '@badgestream/criteria';
import type { ActiveCriteriaSource } from './processor.js';

/**
 * The active criteria of every tenant, reloaded at most every `refreshMs`: activating a new
 * version takes effect for events consumed after the next reload.
 */
export class CachedActiveCriteria implements ActiveCriteriaSource {
  private cached: { at: number; value: Promise<Map<string, Criteria[]>> } | undefined;

  constructor(
    private readonly load: () => Promise<readonly { tenant: string; criteria: Criteria }[]>,
    private readonly refreshMs: number,
  ) {}

  activeByTenant(): Promise<Map<string, Criteria[]>> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= this.refreshMs) {
      const value = this.load().then((definitions) => {
        const byTenant = new Map<string, Criteria[]>();
        for (const d of definitions) byTenant.set(d.tenant, [...(byTenant.get(d.tenant) ?? []), d.criteria]);
        return byTenant;
      });
      value.catch(() => {
        if (this.cached?.value === value) this.cached = undefined;
      });
      this.cached = { at: now, value };
    }
    return this.cached.value;
  }

  /** Forget the cache, e.g. right after an activation through this process's admin API. */
  invalidate(): void {
    this.cached = undefined;
  }
}
