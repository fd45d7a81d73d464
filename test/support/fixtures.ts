/**
 * The field an invalid Caliper fixture gets wrong, read from its file name
 * (`caliperEvent-NoActor.json` → actor, `…-MalformedDurationNotADuration.json` → duration).
 * A few file names spell the property differently from the specification.
 */
const FIELD_ALIASES: Record<string, string> = {
  CreationDate: 'dateCreated',
  IsTimeDependant: 'isTimeDependent',
  Generatable: 'generated',
  Context: '@context',
  EventType: 'type',
  Action: 'action',
};

export function offendingField(fileName: string, fixture: Record<string, unknown>): string {
  const problem = (/-(\w+)\.json$/.exec(fileName)?.[1] ?? '').replace(/^(Malformed|Malfromed|No|Null|Unknown|Wrong)/, '');
  const alias = Object.entries(FIELD_ALIASES).find(([prefix]) => problem.startsWith(prefix));
  if (alias) return alias[1];
  const present = Object.keys(fixture)
    .filter((key) => problem.toLowerCase().startsWith(key.toLowerCase()))
    .sort((a, b) => b.length - a.length);
  if (present[0]) return present[0];
  const missing = problem.replace(/(Not|Wrong|Contain|Invalid|Entity|Element|Mismatched).*$/, '');
  return missing.charAt(0).toLowerCase() + missing.slice(1);
}
