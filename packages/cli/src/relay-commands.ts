import { Option, type Command } from 'commander';
import { MongoRelayStore, type RelayOutcomeKind } from '@badgestream/platform';
import { startProgress } from './progress.js';
import { nonNegativeInteger, positiveInteger, withMongo, withTenant } from './support.js';

/**
 * `badgestream relay …`: the issuer endpoints a tenant relays to (with the credentials each
 * issuer gave it), and what the relay did: per endpoint backlog, deliveries, failures, dead
 * letters and refusals.
 */
export function registerRelayCommands(program: Command): void {
  const relay = program.command('relay').description('forwarding consumer-side badge events to the endpoints that badges hosted elsewhere advertise');

  relay
    .command('status')
    .description('per tenant and endpoint: events waiting (backlog), delivered, failed attempts, dead letters, refused (an endpoint that cannot be used)')
    .option('--tenant <name>', 'only this tenant')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (opts: { tenant?: string; json: boolean }) => {
      await withMongo(async (db) => {
        const rows = await new MongoRelayStore(db).status(opts.tenant);
        if (opts.json) return void console.log(JSON.stringify(rows, null, 2));
        console.log(['tenant', 'endpoint', 'backlog', 'delivered', 'failed-attempts', 'dead', 'refused'].join('\t'));
        for (const r of rows) console.log([r.tenant, r.endpoint || '(badge metadata not read yet, or none)', r.backlog, r.delivered, r.failedAttempts, r.dead, r.refused].join('\t'));
      });
    });

  relay
    .command('dead-letters')
    .description('events given up, newest first, with the reason, as JSON lines')
    .option('--tenant <name>', 'only this tenant')
    .addOption(new Option('--limit <n>', 'at most n').argParser(positiveInteger).default(50))
    .action(async (opts: { tenant?: string; limit: number }) => {
      await withMongo(async (db) => {
        for (const d of await new MongoRelayStore(db).deadLetters({ limit: opts.limit, ...(opts.tenant ? { tenant: opts.tenant } : {}) })) {
          console.log(JSON.stringify({ tenant: d.tenant, endpoint: d.endpoint, eventId: d.eventId, attempts: d.attempts, at: d.at, reason: d.reason }));
        }
      });
    });

  relay
    .command('retry')
    .description('put dead letters back to pending with a fresh budget of attempts, once the endpoint is fixed; the running relay picks them up within RELAY_PENDING_RELOAD_MS')
    .requiredOption('--tenant <name>', 'tenant')
    .option('--endpoint <url>', 'only the dead letters of this endpoint')
    .option('--wait', 'follow them (progress on stderr) until each is delivered, given up again or refused; exit code 1 unless all were delivered', false)
    .addOption(new Option('--timeout <seconds>', 'with --wait: give up waiting after this long (exit code 1); 0 waits as long as it takes').argParser(nonNegativeInteger).default(0))
    .action(async (opts: { tenant: string; endpoint?: string; wait: boolean; timeout: number }) => {
      await withTenant(opts.tenant, async (db) => {
        const store = new MongoRelayStore(db);
        const at = new Date();
        const requeued = await store.requeueDead(opts.tenant, opts.endpoint, at);
        console.log(`put back ${requeued} dead letter${requeued === 1 ? '' : 's'} of ${opts.tenant}${opts.endpoint ? ` for ${opts.endpoint}` : ''}`);
        if (!opts.wait || requeued === 0) return;
        const outcomes = await followRequeued(() => store.requeuedOutcomes(opts.tenant, at), requeued, opts.timeout * 1000);
        const settled = outcomes.delivered + outcomes.dead + outcomes.refused;
        console.log(`delivered ${outcomes.delivered} of ${requeued}, dead again ${outcomes.dead}, refused ${outcomes.refused}${settled < requeued ? `, ${requeued - settled} still on their way after ${opts.timeout} s` : ''}`);
        if (outcomes.delivered < requeued) process.exitCode = 1;
      });
    });

  const endpoints = relay.command('endpoints').description('the issuer endpoints a tenant relays to; events for any other endpoint are refused');
  endpoints
    .command('add')
    .description('relay to an endpoint with the token the issuer issued (POST <issuer>/caliper/consumers) and/or a shared signing secret; replaces earlier credentials')
    .requiredOption('--tenant <name>', 'the tenant whose events are relayed')
    .requiredOption('--endpoint <url>', 'the endpoint, exactly as badge objects advertise it in ims:TBAcaliperApi @id')
    .option('--token-env <variable>', 'read the bearer token from this environment variable (keeps it out of the process list)')
    .option('--secret-env <variable>', 'read the HMAC signing secret from this environment variable: envelopes carry badgestream-timestamp and badgestream-signature')
    .action(async (opts: { tenant: string; endpoint: string; tokenEnv?: string; secretEnv?: string }) => {
      const token = fromEnv(opts.tokenEnv);
      const secret = fromEnv(opts.secretEnv);
      await withTenant(opts.tenant, async (db) => {
        const stored = await new MongoRelayStore(db).putEndpoint(opts.tenant, opts.endpoint, { ...(token ? { token } : {}), ...(secret ? { secret } : {}) });
        console.log(`relaying ${stored.tenant} to ${stored.endpoint} (${[stored.hasToken ? 'bearer token' : '', stored.hasSecret ? 'signed' : ''].filter(Boolean).join(', ')})`);
      });
    });
  endpoints
    .command('list')
    .description('the endpoints a tenant relays to (never their credentials)')
    .option('--tenant <name>', 'only this tenant')
    .action(async (opts: { tenant?: string }) => {
      await withMongo(async (db) => {
        for (const e of await new MongoRelayStore(db).listEndpoints(opts.tenant)) console.log([e.tenant, e.endpoint, e.hasToken ? 'token' : '-', e.hasSecret ? 'secret' : '-', e.createdAt.toISOString()].join('\t'));
      });
    });
  endpoints
    .command('remove')
    .description('stop relaying to an endpoint (events for it are refused from then on)')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--endpoint <url>', 'the endpoint')
    .action(async (opts: { tenant: string; endpoint: string }) => {
      await withMongo(async (db) => {
        await new MongoRelayStore(db).removeEndpoint(opts.tenant, opts.endpoint);
        console.log(`no longer relaying ${opts.tenant} to ${opts.endpoint}`);
      });
    });
}

/** Polls what became of the dead letters put back, with a progress bar on stderr, until each has an outcome or the time is up. */
async function followRequeued(read: () => Promise<Record<RelayOutcomeKind, number>>, total: number, timeoutMs: number): Promise<Record<RelayOutcomeKind, number>> {
  const progress = startProgress({ label: 'retry', unit: 'dead letters' });
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  let outcomes: Record<RelayOutcomeKind, number> = { delivered: 0, dead: 0, refused: 0 };
  const figures = () => ({ done: outcomes.delivered + outcomes.dead + outcomes.refused, total, detail: `${outcomes.delivered} delivered, ${outcomes.dead} dead again, ${outcomes.refused} refused` });
  try {
    for (;;) {
      outcomes = await read();
      progress.update(figures());
      if (figures().done >= total || Date.now() >= deadline) return outcomes;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
  } finally {
    progress.stop(figures());
  }
}

function fromEnv(variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const value = process.env[variable];
  if (!value) throw new Error(`environment variable ${variable} is empty or not set`);
  return value;
}
