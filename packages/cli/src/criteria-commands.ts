import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
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
import { criteriaOptions, dryRunCriteria } from '@badgestream/criteria-service';
import { positiveInteger, withMongo } from './support.js';

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
    .action(async (file: string, opts: { tenant: string; activate: boolean }) => {
      const doc = await readCriteriaFile(file);
      if (doc === undefined) return;
      await withDefinitions(async (definitions, directory) => {
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
        if (opts.activate) printActivation(await definitions.activate(opts.tenant, definition.badgeClass, definition.version));
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
    .action(async (opts: { tenant: string; badgeClass: string; version: number }) => {
      await withDefinitions(async (definitions) => printActivation(await definitions.activate(opts.tenant, opts.badgeClass, opts.version)));
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
