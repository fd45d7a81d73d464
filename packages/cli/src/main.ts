import { Command, InvalidArgumentError, Option } from 'commander';
import {
  BadgestreamError,
  ConfigError,
  TOPICS,
  MongoTenantDirectory,
  SCOPES,
  describeConfig,
  embeddedOptions,
  parseToken,
  type Scope,
} from '@badgestream/platform';
import { ingestOptions, loadIngestConfig, startIngest } from '@badgestream/ingest';
import { criteriaOptions, loadCriteriaConfig, startCriteria } from '@badgestream/criteria-service';
import { loadRelayConfig, relayOptions, startRelay } from '@badgestream/relay';
import { loadReportingConfig, reportingOptions, startReporting } from '@badgestream/reporting';
import { registerCriteriaCommands } from './criteria-commands.js';
import { registerIssuerCommands } from './issuer-commands.js';
import { registerRelayCommands } from './relay-commands.js';
import { registerReportCommands } from './report-commands.js';
import { replayDeadLettersCommand } from './dlq-replay.js';
import { nonNegativeInteger, positiveInteger, withMongo } from './support.js';
import { tailTopic } from './tail.js';
import { banner, bootstrapEmbedded, startBadgestream } from './start.js';
import { registerDemoCommand } from './demo.js';

const ENVIRONMENT_HELP = `
Configuration is read from the environment (defaults in brackets):
${describeConfig(ingestOptions)}
`;

/** `badgestream`: the operator's command line. */
export function buildProgram(): Command {
  const program = new Command('badgestream')
    .description('Badgestream: Caliper events in, Open Badges out, and what happens to them after.')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', ENVIRONMENT_HELP);

  program
    .command('start')
    .description('run every service (ingest, criteria, reporting, relay) in this process: embedded (a journalled log and store in BADGESTREAM_DATA_DIR) unless KAFKA_BROKERS and MONGODB_URI are set')
    .addHelpText('after', `\nConfiguration is read from the environment (defaults in brackets):\n${describeConfig(embeddedOptions)}\nand the options of each service (badgestream serve <service> --help).\n`)
    .action(async () => {
      const running = await startBadgestream();
      const keys = await bootstrapEmbedded(running);
      console.log(`\n${banner(running, keys)}\n`);
      runUntilSignalled(running);
    });
  registerDemoCommand(program);

  const serve = program.command('serve').description('run a Badgestream service in the foreground');
  serve
    .command('ingest')
    .description('the Caliper Sensor API: POST /caliper into Kafka (GET /caliper, /healthz, /readyz, /metrics)')
    .addOption(new Option('--port <n>', 'port to listen on (overrides INGEST_PORT)').argParser(portNumber))
    .addOption(new Option('--host <address>', 'address to bind (overrides INGEST_HOST)'))
    .addHelpText('after', ENVIRONMENT_HELP)
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadIngestConfig(withOverrides(opts, 'INGEST'));
      runUntilSignalled(await startIngest(config));
    });
  serve
    .command('criteria')
    .description('the criteria engine: a consumer group over caliper.events awarding and revoking badges, with its admin and progress API')
    .addOption(new Option('--port <n>', 'port to listen on (overrides CRITERIA_PORT)').argParser(portNumber))
    .addOption(new Option('--host <address>', 'address to bind (overrides CRITERIA_HOST)'))
    .addHelpText('after', `\nConfiguration is read from the environment (defaults in brackets):\n${describeConfig(criteriaOptions)}\n`)
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadCriteriaConfig(withOverrides(opts, 'CRITERIA'));
      runUntilSignalled(await startCriteria(config));
    });
  serve
    .command('relay')
    .description('the relay: forwards consumer-side badge events (Verified, Shared, Endorsed, Accessed, Accepted) to the endpoints their badge objects advertise (/healthz, /readyz, /metrics)')
    .addOption(new Option('--port <n>', 'port to listen on (overrides RELAY_PORT)').argParser(portNumber))
    .addOption(new Option('--host <address>', 'address to bind (overrides RELAY_HOST)'))
    .addHelpText('after', `\nConfiguration is read from the environment (defaults in brackets):\n${describeConfig(relayOptions)}\n`)
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadRelayConfig(withOverrides(opts, 'RELAY'));
      runUntilSignalled(await startRelay(config));
    });

  serve
    .command('reporting')
    .description('reporting: the rollup consumer over caliper.events and the reporting API (counts, funnel, ratios, consumers, time to earn, top badge classes, CSV and xAPI exports, /openapi.json)')
    .addOption(new Option('--port <n>', 'port to listen on (overrides REPORTING_PORT)').argParser(portNumber))
    .addOption(new Option('--host <address>', 'address to bind (overrides REPORTING_HOST)'))
    .addHelpText('after', `\nConfiguration is read from the environment (defaults in brackets):\n${describeConfig(reportingOptions)}\n`)
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadReportingConfig(withOverrides(opts, 'REPORTING'));
      runUntilSignalled(await startReporting(config));
    });

  const tenants = program.command('tenants').description('manage tenants (one per issuing organisation)');
  tenants
    .command('create <name>')
    .description('create a tenant; names are 1-63 characters of a-z, 0-9 and -')
    .action(async (name: string) => {
      await withDirectory(async (directory) => {
        const tenant = await directory.createTenant(name);
        console.log(`created tenant ${tenant.name}`);
      });
    });
  tenants
    .command('list')
    .description('list tenants')
    .action(async () => {
      await withDirectory(async (directory) => {
        for (const t of await directory.listTenants()) console.log(`${t.name}\t${t.createdAt.toISOString()}`);
      });
    });

  const keys = program.command('keys').description('manage API keys (bearer tokens, stored hashed)');
  keys
    .command('create')
    .description('create an API key and print its token (only the token, shown once: store it now)')
    .requiredOption('--tenant <name>', 'tenant the key belongs to')
    .addOption(new Option('--scope <scope>', 'what the key may do: sensor posts any event, consumer posts only Verified/Shared/Endorsed/Accessed/Accepted badge events, reader reads reports, admin manages criteria').choices(SCOPES).makeOptionMandatory())
    .option('--label <text>', 'a note to recognise the key by in `keys list`')
    .action(async (opts: { tenant: string; scope: Scope; label?: string }) => {
      await withDirectory(async (directory) => {
        const { token } = await directory.createKey(opts.tenant, opts.scope, opts.label);
        console.log(token);
      });
    });
  keys
    .command('list')
    .description('list the keys of a tenant (never their tokens)')
    .requiredOption('--tenant <name>', 'tenant')
    .action(async (opts: { tenant: string }) => {
      await withDirectory(async (directory) => {
        for (const k of await directory.listKeys(opts.tenant)) {
          console.log([k.id, k.scope, k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active', k.createdAt.toISOString(), k.label ?? ''].join('\t'));
        }
      });
    });
  keys
    .command('revoke <key>')
    .description('revoke a key, given its id (from `keys list`) or its token; effective within INGEST_AUTH_CACHE_TTL_MS')
    .action(async (key: string) => {
      const keyId = parseToken(key)?.keyId ?? key;
      await withDirectory(async (directory) => {
        const revoked = await directory.revokeKey(keyId);
        console.log(`revoked key ${revoked.id} of tenant ${revoked.tenant}`);
      });
    });

  registerCriteriaCommands(program);
  registerIssuerCommands(program);
  registerRelayCommands(program);
  registerReportCommands(program);

  const events = program.command('events').description('look at what is in Kafka');
  events
    .command('tail')
    .description('print records of a topic as JSON lines: key, headers, and the value decoded through the schema registry')
    .option('--topic <name>', 'topic to read', 'caliper.events')
    .option('--from-beginning', 'start at the oldest record instead of the newest', false)
    .option('--tenant <name>', 'only records of this tenant')
    .addOption(new Option('--limit <n>', 'stop after printing n records').argParser(positiveInteger))
    .addOption(new Option('--idle <ms>', 'stop after this many milliseconds without a record; 0 follows forever').argParser(nonNegativeInteger).default(0))
    .action(async (opts: { topic: string; fromBeginning: boolean; tenant?: string; limit?: number; idle: number }) => {
      await tailTopic(
        { topic: opts.topic, fromBeginning: opts.fromBeginning, idleMs: opts.idle, ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) },
        (line) => console.log(line),
      );
    });

  const dlq = program.command('dlq').description('dead letters: records a consumer could not decode or process');
  dlq
    .command('replay')
    .description('put dead letters back on the topic they came from (after fixing their cause); each is replayed once')
    .option('--topic <name>', 'dead-letter topic', TOPICS.eventsDeadLetters)
    .option('--reason <text>', 'only dead letters whose reason contains this text')
    .addOption(new Option('--limit <n>', 'replay at most n records').argParser(positiveInteger))
    .option('--dry-run', 'list what would be replayed; change nothing', false)
    .addOption(new Option('--idle <ms>', 'stop after this many milliseconds without a record (it stops anyway once through the dead letters there were when it started)').argParser(nonNegativeInteger).default(5000))
    .addHelpText('after', '\nPrints one line per dead letter and the counts on stdout; progress (dead letters gone through of those there were at the start) on stderr.')
    .action(replayDeadLettersCommand);

  program
    .command('config')
    .description('print every configuration option, its environment variable and default')
    .action(() => {
      console.log(`The embedded mode (badgestream start without KAFKA_BROKERS and MONGODB_URI):\n${describeConfig(embeddedOptions)}\n\nCommon and ingest options:\n${describeConfig(ingestOptions)}`);
    });

  return program;
}

function withOverrides(opts: { port?: number; host?: string }, prefix: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(opts.port !== undefined ? { [`${prefix}_PORT`]: String(opts.port) } : {}),
    ...(opts.host !== undefined ? { [`${prefix}_HOST`]: opts.host } : {}),
  };
}

/** Keeps a service running until SIGTERM or SIGINT, then closes it gracefully. */
function runUntilSignalled(running: { logger: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }; close: () => Promise<void> }): void {
  const stop = (signal: string) => {
    running.logger.info({ signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        running.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}




function portNumber(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected an integer between 0 and 65535, got ${raw}`);
  return n;
}

/** Runs the CLI; errors become a one-line message and a non-zero exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof BadgestreamError) {
      console.error(`badgestream: ${error.message}`);
      process.exitCode = error instanceof ConfigError ? 2 : 1;
      return;
    }
    console.error(`badgestream: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

async function withDirectory(work: (directory: MongoTenantDirectory) => Promise<void>): Promise<void> {
  await withMongo(async (db) => {
    const directory = new MongoTenantDirectory(db);
    await directory.init();
    await work(directory);
  });
}
