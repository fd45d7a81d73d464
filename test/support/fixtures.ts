/**
 * The field an invalid Caliper fixture gets wrong, read from its file name
 * (`caliperEvent-NoActor.json` → actor, `…-MalformedDurationNotADuration.json` → duration).
 */
export function offendingField(fileName: string): string {
  const reason = fileName.replace(/\.json$/, '').replace(/^[^-]*-/, '');
  if (reason === 'UnknownContext') return '@context';
  if (reason === 'UnknownEventType') return 'type';
  if (reason === 'WrongAction') return 'action';
  if (reason === 'BadJson') return '';
  const match = /^(?:No|Null|Malformed|Malfromed)([A-Z][a-zA-Z]*?)(?:NotA|NotAn|Wrong|Invalid|Contains|Contain|Unknown|NoValue|NotValid|NotPresent|ListElement|$)/.exec(reason);
  if (!match) throw new Error(`cannot tell the offending field of ${fileName}`);
  const field = match[1]!.charAt(0).toLowerCase() + match[1]!.slice(1);
  // The fixture names misspell one property.
  return field === 'isTimeDependant' ? 'isTimeDependent' : field;
}
