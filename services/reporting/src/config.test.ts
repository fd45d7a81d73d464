import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadReportingConfig, reportingOptions } from './config.js';

describe('reporting configuration', () => {
  it('has working defaults', () => {
    expect(loadReportingConfig({})).toMatchObject({ port: 8084, groupId: 'badgestream-metrics', duplicateWindowHours: 168, lrsEndpoint: '' });
  });

  it('is documented in the README, every variable', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const option of Object.values(reportingOptions)) expect(readme, option.env).toContain(`| \`${option.env}\` |`);
  });
});
