import { Option, type Command } from 'commander';
import {
  ConflictError,
  ISSUING_MODES,
  MongoIssuerSettings,
  MongoOutbox,
  NotFoundError,
  OUTBOX_STATUSES,
  type IssuerSettings,
  type IssuingMode,
  type OutboxEntry,
} from '@badgestream/platform';
import { positiveInteger, withTenant } from './support.js';

/**
 * `badgestream issuer …` and `badgestream deliveries …`: how a tenant's awards reach its
 * issuer, and the deliveries on their way, talking to MongoDB directly like `criteria`.
 */
export function registerIssuerCommands(program: Command): void {
  const issuer = program.command('issuer').description('how awards and revocations reach the issuer of a tenant: a signed webhook, Issued events, or the Caliper events only');

  issuer
    .command('set')
    .description('set the issuing mode; for a webhook, a signing secret is generated the first time (or with --rotate-secret) and printed once: store it now')
    .requiredOption('--tenant <name>', 'tenant')
    .addOption(new Option('--mode <mode>', 'webhook: POST signed award requests to --url; badgestream: publish Issued events; none: only Demonstrated and Revoked').choices(ISSUING_MODES).makeOptionMandatory())
    .option('--url <url>', 'the http(s) URL webhook deliveries are POSTed to (mode webhook)')
    .option('--rotate-secret', 'generate a new signing secret (mode webhook); the old one stops working at once', false)
    .action(async (opts: { tenant: string; mode: IssuingMode; url?: string; rotateSecret: boolean }) => {
      await withTenant(opts.tenant, async (db) => {
        const { settings, secret } = await new MongoIssuerSettings(db).put(opts.tenant, {
          mode: opts.mode,
          ...(opts.url !== undefined ? { webhookUrl: opts.url } : {}),
          ...(opts.rotateSecret ? { rotateSecret: true } : {}),
        });
        printSettings(settings, secret);
      });
    });

  issuer
    .command('show')
    .description('print the issuing settings of a tenant (never the secret)')
    .requiredOption('--tenant <name>', 'tenant')
    .action(async (opts: { tenant: string }) => {
      await withTenant(opts.tenant, async (db) => printSettings(await new MongoIssuerSettings(db).get(opts.tenant)));
    });

  const deliveries = program.command('deliveries').description('awards and revocations on their way to Kafka and the issuer (the criteria outbox)');

  deliveries
    .command('list')
    .description('list deliveries, newest first: id, kind, status, webhook step, attempts, learner, badge class, last attempt')
    .requiredOption('--tenant <name>', 'tenant')
    .addOption(new Option('--status <status>', 'only deliveries of this status').choices(OUTBOX_STATUSES))
    .addOption(new Option('--limit <n>', 'at most n deliveries').argParser(positiveInteger).default(50))
    .action(async (opts: { tenant: string; status?: OutboxEntry['status']; limit: number }) => {
      await withTenant(opts.tenant, async (db) => {
        for (const e of await new MongoOutbox(db).list(opts.tenant, { ...(opts.status ? { status: opts.status } : {}), limit: opts.limit })) {
          const last = e.attemptLog?.at(-1);
          const lastText = last ? `${last.at.toISOString()} ${last.target} ${last.outcome}${last.status ? ` ${last.status}` : ''}${last.error ? ` ${last.error}` : ''}` : '';
          console.log([e._id, e.kind, e.status, `webhook:${e.webhook ?? '-'}`, `attempts:${e.attempts}`, e.learner, e.effect.badgeClass, lastText].join('\t'));
        }
      });
    });

  deliveries
    .command('retry <id>')
    .description('put a failed delivery back to pending, with a fresh budget of webhook attempts')
    .requiredOption('--tenant <name>', 'tenant')
    .action(async (id: string, opts: { tenant: string }) => {
      await withTenant(opts.tenant, async (db) => {
        const result = await new MongoOutbox(db).retry(opts.tenant, id);
        if (!result) throw new NotFoundError(`tenant ${opts.tenant} has no delivery ${id}`);
        if (!result.retried) throw new ConflictError(`delivery ${id} is ${result.entry.status}; only a failed delivery can be retried`);
        console.log(`pending again: ${id} (a running criteria service delivers it within CRITERIA_DISPATCHER_POLL_MS)`);
      });
    });
}

/** The settings; a secret generated just now is printed in full, this once. */
function printSettings(s: IssuerSettings, newSecret?: string): void {
  console.log(`mode\t${s.mode}`);
  if (s.webhookUrl) console.log(`webhookUrl\t${s.webhookUrl}`);
  if (newSecret) console.log(`secret\t${newSecret}\t(shown once: store it where the issuer verifies badgestream-signature)`);
  else console.log(`secret\t${s.hasSecret ? `set${s.secretCreatedAt ? ` ${s.secretCreatedAt.toISOString()}` : ''}` : 'none'}`);
  if (s.updatedAt) console.log(`updatedAt\t${s.updatedAt.toISOString()}`);
}
