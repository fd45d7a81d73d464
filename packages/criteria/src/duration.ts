const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** An ISO 8601 duration with whole numbers (P90D, P1Y, P6M, P2W, PT12H), parsed once. */
export interface Duration {
  text: string;
  years: number;
  months: number;
  days: number;
  milliseconds: number;
}

export function parseDuration(text: string): Duration | undefined {
  const parts = DURATION.exec(text);
  if (!parts) return undefined;
  const n = (i: number): number => Number(parts[i] ?? 0);
  return { text, years: n(1), months: n(2), days: n(3) * 7 + n(4), milliseconds: ((n(5) * 60 + n(6)) * 60 + n(7)) * 1000 };
}

/** `at` (epoch ms) plus the duration, on the UTC calendar: P1M from 31 January is 2 or 3 March, as Date does it. */
export function addDuration(at: number, duration: Duration): number {
  const date = new Date(at);
  if (duration.years || duration.months) date.setUTCMonth(date.getUTCMonth() + duration.years * 12 + duration.months);
  if (duration.days) date.setUTCDate(date.getUTCDate() + duration.days);
  return date.getTime() + duration.milliseconds;
}
