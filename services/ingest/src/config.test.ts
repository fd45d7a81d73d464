import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@badgestream/platform';
import { ingestOptions, loadIngestConfig } from './config.js';

describe('ingest configuration', () => {
  it('has working defaults', () => {
    const config = loadIngestConfig({});
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', maxPayloadKb: 1024, kafkaBrokers: ['127.0.0.1:9092'], authCacheTtlMs: 5000 });
  });

  it('reports every invalid variable at once, by name', () => {
    let error: unknown;
    try {
      loadIngestConfig({ INGEST_PORT: 'eighty', KAFKA_BROKERS: '', MONGODB_URI: 'postgres://db', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('INGEST_PORT="eighty": must be an integer');
    expect(problems).toContain('MONGODB_URI=(hidden): must start with mongodb://');
    expect(problems).toContain('LOG_LEVEL="loud": must be one of');
  });

  it('is documented in the README, every variable', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const option of Object.values(ingestOptions)) expect(readme, option.env).toContain(`| \`${option.env}\` |`);
  });
});
