import { Option, type Command } from 'commander';
import { QUERY_KINDS } from '@badgestream/reporting';
import { csvRecordCounter, download, jsonArrayCounter } from './download.js';

const EXPORTS = [...QUERY_KINDS, 'xapi'] as const;

/**
 * `badgestream reports …`: downloads from a running reporting service through its API, with a
 * reader key, as a browser or curl would, but with progress on stderr.
 */
export function registerReportCommands(program: Command): void {
  const reports = program.command('reports').description('download reports and the xAPI export from a running reporting service (its HTTP API, with a reader key)');

  reports
    .command('export <kind>')
    .description(`download a report (${QUERY_KINDS.join(', ')}) as CSV or JSON, or the badge events as xAPI statements (xapi); progress (bytes, and rows or statements so far) on stderr`)
    .requiredOption('--from <date>', 'start of the range, inclusive: a date (midnight UTC) or a date-time on the hour')
    .requiredOption('--to <date>', 'end of the range, exclusive')
    .option('--badge-class <iri>', 'only events about this badge class (required by summary)')
    .option('--issuer <iri>', 'only events about badge classes of this issuer')
    .option('--param <name=value>', 'another query parameter of the report, as /openapi.json lists them (repeatable): groupBy=day, action=Issued,Shared, by=Shared, limit=20', collect, [])
    .addOption(new Option('--format <format>', 'for reports: csv or json').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write to this file (FILE.part until complete) and print a summary; default: stdout')
    .option('--url <url>', 'the reporting service (REPORTING_URL)', process.env.REPORTING_URL ?? 'http://127.0.0.1:8084')
    .option('--token-env <variable>', 'the environment variable holding a reader key (badgestream keys create --scope reader)', 'BADGESTREAM_TOKEN')
    .action(async (kind: string, opts: { from: string; to: string; badgeClass?: string; issuer?: string; param: string[]; format: 'csv' | 'json'; out?: string; url: string; tokenEnv: string }) => {
      if (!(EXPORTS as readonly string[]).includes(kind)) throw new Error(`unknown export ${JSON.stringify(kind)}; one of ${EXPORTS.join(', ')}`);
      const token = process.env[opts.tokenEnv];
      if (!token) throw new Error(`environment variable ${opts.tokenEnv} is empty or not set: set it to a reader key (badgestream keys create --tenant NAME --scope reader)`);
      const query = new URLSearchParams({ from: opts.from, to: opts.to });
      if (opts.badgeClass) query.set('badgeClass', opts.badgeClass);
      if (opts.issuer) query.set('issuer', opts.issuer);
      for (const p of opts.param) {
        const at = p.indexOf('=');
        if (at < 1) throw new Error(`--param ${p}: expected name=value`);
        query.set(p.slice(0, at), p.slice(at + 1));
      }
      const xapi = kind === 'xapi';
      if (!xapi) query.set('format', opts.format);
      const items = xapi ? { name: 'statements', counter: jsonArrayCounter() } : opts.format === 'csv' ? { name: 'rows', counter: csvRecordCounter() } : undefined;
      const { bytes, items: counted } = await download({
        url: `${opts.url.replace(/\/+$/, '')}${xapi ? '/exports/xapi' : `/reports/${kind}`}?${query.toString()}`,
        token,
        out: opts.out,
        label: `${kind} export`,
        ...(items ? { items } : {}),
      });
      if (opts.out !== undefined) console.log(`wrote ${items ? `${counted} ${items.name}, ` : ''}${bytes} bytes to ${opts.out}`);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
