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
/**
 * kafkajs warnings that do not apply to how Badgestream uses it: producers set their
 * partitioner explicitly, and transactional producers abort a failed transaction, so
 * bounded retries cannot break exactly-once delivery.
 */
const IRRELEVANT_WARNINGS = [/switched default partitioner/, /Limiting retries for the idempotent producer/];

/**
 * Errors kafkajs logs before retrying by itself: a transaction that begins while the
 * coordinator still writes the previous one's commit markers is told to wait and retry.
 */
const RETRIED_ERRORS = [/another concurrent operation on the same transaction/];

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
        if (level === logLevel.ERROR || level === logLevel.NOTHING) {
          if (RETRIED_ERRORS.some((e) => e.test(String(message)) || e.test(String(rest.error)))) log.debug(rest, message);
          else log.error(rest, message);
        }
        else if (level === logLevel.WARN) {
          if (!IRRELEVANT_WARNINGS.some((w) => w.test(String(message)))) log.warn(rest, message);
        }
        else log.debug(rest, message);
      },
  });
}
