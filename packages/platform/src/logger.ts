import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** One structured logger: JSON lines with the service name; child loggers add tenant, event id, request id. */
export function createLogger(service: string, level: string = 'info'): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['req.headers.authorization', 'token'], censor: '[redacted]' },
    },
    // Written as they come: lines are few (none per event), and stay in order with what else the
    // process prints (the start-up banner) and whole when it is killed.
    pino.destination({ dest: 1, sync: true }),
  );
}
