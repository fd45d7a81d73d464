import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** How long one connection attempt or request may take before it counts as failed. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** A kafkajs client whose own logs go through our pino logger. */
export function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        if (level === logLevel.ERROR || level === logLevel.NOTHING) log.error(rest, message);
        else if (level === logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}
