import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { validateCriteria, type CriteriaProblem } from '@badgestream/criteria';
import {
  ConflictError,
  InvalidCriteriaError,
  MongoCriteriaDefinitions,
  MongoEventHistory,
  MongoLearnerProgress,
  MongoTenantDirectory,
  NotFoundError,
  type CriteriaDefinition,
} from '@badgestream/platform';
import type { Db } from 'mongodb';
import { criteriaOptions, dryRunCriteria, type BackfillStatus } from '@badgestream/criteria-service';
import { backfillReader, describeBackfill, followBackfill, type BackfillTarget } from './backfill-watch.js';
import { nonNegativeInteger, positiveInteger, withMongo } from './support.js';

const GROUP_HELP = 'the criteria consumer group whose backfill to follow';
const defaultGroup = () => process.env.CRITERIA_GROUP_ID ?? criteriaOptions.groupId.default;

/**
 * `badgestream criteria …`: store, validate, list, show, activate and retire badge criteria,
 * talking to MongoDB directly like `tenants` and `keys`. A criteria document that does not
 * validate prints one line per problem, `FILE: /pointer: reason`, and exits with code 1.
 */
export function registerCriteriaCommands(program: Command): void {
  const criteria = program
    .command('criteria')
    .description('manage badge criteria: versioned per tenant and badge class, stored as drafts, then activated')
    .addHelpText('after', '\nA criteria document is JSON following schemas/json/criteria/criteria.schema.json; see packages/criteria/README.md.');

  criteria
    .command('put <file>')
    .description('validate a criteria document and store it as a draft version (storing the same document again changes nothing)')
    .requiredOption('--tenant <name>', 'tenant the criteria belong to')
    .option('--activate', 'also activate this version, retiring the version active before', false)
    .option('--wait', 'with --activate: follow the evaluation of the version over the stored history (progress on stderr) until every partition is done', false)
    .option('--group <id>', GROUP_HELP, defaultGroup())
    .addOption(new Option('--timeout <seconds>', 'with --wait: give up waiting after this long (exit code 1); 0 waits as long as it takes').argParser(nonNegativeInteger).default(0))
    .action(async (file: string, opts: { tenant: string; activate: boolean; wait: boolean; group: string; timeout: number }) => {
      const doc = await readCriteriaFile(file);
      if (doc === undefined) return;
      await withDefinitions(async (definitions, directory, db) => {
        await requireTenant(directory, opts.tenant);
        let stored: { definition: CriteriaDefinition; created: boolean };
        try {
          stored = await definitions.put(opts.tenant, doc);
        } catch (error) {
          if (!(error instanceof InvalidCriteriaError)) throw error;
          reportProblems(file, error.problems);
          return;
        }
        const { definition, created } = stored;
        console.log(`${created ? 'stored' : 'unchanged'}: ${describe(definition)}`);
        if (!opts.activate) return;
        printActivation(await definitions.activate(opts.tenant, definition.badgeClass, definition.version));
        if (opts.wait) await waitForBackfill(db, { tenant: opts.tenant, badgeClass: definition.badgeClass, version: definition.version, group: opts.group }, opts.timeout);
      });
    });

  criteria
    .command('validate <file>')
    .description('check a criteria document without storing it (no tenant, no database needed)')
    .action(async (file: string) => {
      const doc = await readCriteriaFile(file);
      if (doc === undefined) return;
      const result = validateCriteria(doc);
      if (!result.ok) return reportProblems(file, result.problems);
      console.log(`${file}: valid criteria for ${result.criteria.badgeClass}, version ${result.criteria.version}`);
    });

  criteria
    .command('list')
    .description('list the criteria versions of a tenant: badge class, version, status, created, name')
    .requiredOption('--tenant <name>', 'tenant')
    .option('--badge-class <iri>', 'only the versions of this badge class')
    .action(async (opts: { tenant: string; badgeClass?: string }) => {
      await withDefinitions(async (definitions) => {
        const listed = await definitions.list(opts.tenant, opts.badgeClass === undefined ? {} : { badgeClass: opts.badgeClass });
        for (const d of listed) console.log([d.badgeClass, d.version, d.status, d.createdAt.toISOString(), d.criteria.name ?? ''].join('\t'));
      });
    });

  criteria
    .command('show')
    .description('print one criteria version as JSON: its status and dates, and the document')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--badge-class <iri>', 'the IRI of the badge class')
    .option('--version <n>', 'the version to show (default: the highest stored)', positiveInteger)
    .action(async (opts: { tenant: string; badgeClass: string; version?: number }) => {
      await withDefinitions(async (definitions) => {
        const definition = await definitions.get(opts.tenant, opts.badgeClass, opts.version);
        if (!definition) throw new NotFoundError(`tenant ${opts.tenant} has no ${opts.version === undefined ? 'criteria' : `version ${opts.version} of the criteria`} of ${opts.badgeClass}`);
        console.log(JSON.stringify(definition, null, 2));
      });
    });

  criteria
    .command('activate')
    .description('make a stored version the one in force for its badge class, retiring the version active before')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--badge-class <iri>', 'the IRI of the badge class')
    .requiredOption('--version <n>', 'the version to activate', positiveInteger)
    .option('--wait', 'follow the evaluation of the version over the stored history (progress on stderr) until every partition is done', false)
    .option('--group <id>', GROUP_HELP, defaultGroup())
    .addOption(new Option('--timeout <seconds>', 'with --wait: give up waiting after this long (exit code 1); 0 waits as long as it takes').argParser(nonNegativeInteger).default(0))
    .action(async (opts: { tenant: string; badgeClass: string; version: number; wait: boolean; group: string; timeout: number }) => {
      await withDefinitions(async (definitions, _directory, db) => {
        printActivation(await definitions.activate(opts.tenant, opts.badgeClass, opts.version));
        if (opts.wait) await waitForBackfill(db, { tenant: opts.tenant, badgeClass: opts.badgeClass, version: opts.version, group: opts.group }, opts.timeout);
      });
    });

  criteria
    .command('backfill')
    .description(
      "how far the evaluation of a version's last activation over the stored history got: partitions done, events gone through of those to go through (every event of the history chunks holding the tenant's), the tenant's events evaluated",
    )
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--badge-class <iri>', 'the IRI of the badge class')
    .requiredOption('--version <n>', 'the version', positiveInteger)
    .option('--group <id>', GROUP_HELP, defaultGroup())
    .option('--follow', 'show progress on stderr until the backfill is done (or stopped by a retirement), then print the status', false)
    .addOption(new Option('--timeout <seconds>', 'with --follow: give up after this long (exit code 1); 0 follows as long as it takes').argParser(nonNegativeInteger).default(0))
    .option('--json', 'print the status as JSON (as GET /admin/criteria/:version/backfill answers)', false)
    .action(async (opts: { tenant: string; badgeClass: string; version: number; group: string; follow: boolean; timeout: number; json: boolean }) => {
      await withDefinitions(async (_definitions, directory, db) => {
        await requireTenant(directory, opts.tenant);
        const read = backfillReader(db, { tenant: opts.tenant, badgeClass: opts.badgeClass, version: opts.version, group: opts.group });
        const status = opts.follow ? await followBackfill(read, { group: opts.group, timeoutMs: opts.timeout * 1000 }) : await read();
        if (opts.json) console.log(JSON.stringify(status, null, 2));
        else for (const line of describeBackfill(status)) console.log(line);
        if (opts.follow && status.state !== 'done') fail(`the backfill is ${status.state}${status.state === 'running' || status.state === 'waiting' ? ` after ${opts.timeout} s` : ''}`);
      });
    });

  criteria
    .command('dry-run')
    .description('evaluate a stored version (draft or active) over the stored event history and print, as JSON, who would be awarded, revoked or have an award replaced; nothing is written')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--badge-class <iri>', 'the IRI of the badge class')
    .requiredOption('--version <n>', 'the version to evaluate', positiveInteger)
    .option('--group <id>', 'the criteria consumer group whose awards the outcome is compared with', process.env.CRITERIA_GROUP_ID ?? criteriaOptions.groupId.default)
    .action(async (opts: { tenant: string; badgeClass: string; version: number; group: string }) => {
      await withDefinitions(async (definitions, _directory, db) => {
        const result = await dryRunCriteria({ definitions, history: new MongoEventHistory(db), progress: new MongoLearnerProgress(db, opts.group) }, opts.tenant, opts.badgeClass, opts.version);
        console.log(JSON.stringify(result, null, 2));
      });
    });

  criteria
    .command('retire')
    .description('retire a version: an active one stops awarding, a draft is abandoned')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--badge-class <iri>', 'the IRI of the badge class')
    .requiredOption('--version <n>', 'the version to retire', positiveInteger)
    .action(async (opts: { tenant: string; badgeClass: string; version: number }) => {
      await withDefinitions(async (definitions) => {
        console.log(`retired: ${describe(await definitions.retire(opts.tenant, opts.badgeClass, opts.version))}`);
      });
    });
}

/** The parsed JSON of a file, or undefined after printing why it cannot be read (exit code 1). */
async function readCriteriaFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return fail(`${file}: cannot read the file: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return fail(`${file}: not valid JSON: ${(error as Error).message}`);
  }
}

function reportProblems(file: string, problems: readonly CriteriaProblem[]): void {
  for (const p of problems) console.error(`${file}: ${p.pointer || '/'}: ${p.reason}`);
  fail(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was stored`);
}

function fail(message: string): undefined {
  console.error(message);
  process.exitCode = 1;
  return undefined;
}

function printActivation({ definition, retired }: { definition: CriteriaDefinition; retired: CriteriaDefinition[] }): void {
  if (definition.status !== 'active') throw new ConflictError(`another activation of ${definition.badgeClass} happened at the same time and took effect instead; see: badgestream criteria list`);
  console.log(`activated: ${describe(definition)}`);
  for (const r of retired) console.log(`retired: ${describe(r)}`);
}

/** Follows the backfill of a version just activated; prints how it ended, and fails unless it is done. */
async function waitForBackfill(db: Db, target: BackfillTarget, timeoutSeconds: number): Promise<void> {
  const status = await followBackfill(backfillReader(db, target), { group: target.group, timeoutMs: timeoutSeconds * 1000 });
  console.log(`backfill ${status.state}: ${summarizeBackfill(status)}`);
  if (status.state !== 'done') fail(status.state === 'stopped' ? 'the version was retired before every partition evaluated it' : `the backfill is not done after ${timeoutSeconds} s; follow it with: badgestream criteria backfill --follow`);
}

function summarizeBackfill(s: BackfillStatus): string {
  const took = s.startedAt && s.finishedAt ? `, in ${((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)} s` : '';
  return `${s.partitions.done}/${s.partitions.total ?? '?'} partitions, ${s.events.done}/${s.events.total} events gone through, ${s.evaluated} of the tenant's events evaluated${took}`;
}

function describe(d: CriteriaDefinition): string {
  return `${d.badgeClass} version ${d.version} (${d.status})`;
}

async function requireTenant(directory: MongoTenantDirectory, tenant: string): Promise<void> {
  if (!(await directory.listTenants()).some((t) => t.name === tenant)) {
    throw new NotFoundError(`tenant ${tenant} does not exist; create it with: badgestream tenants create ${tenant}`);
  }
}

async function withDefinitions(work: (definitions: MongoCriteriaDefinitions, directory: MongoTenantDirectory, db: Db) => Promise<void>): Promise<void> {
  await withMongo(async (db) => {
    const definitions = new MongoCriteriaDefinitions(db);
    await definitions.init();
    await work(definitions, new MongoTenantDirectory(db), db);
  });
}
