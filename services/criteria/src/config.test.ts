import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { criteriaOptions, loadCriteriaConfig } from './config.js';

describe('criteria configuration', () => {
  it('has working defaults', () => {
    expect(loadCriteriaConfig({})).toMatchObject({ port: 8082, groupId: 'badgestream-criteria', sessionTimeoutMs: 10_000 });
  });

  it('is documented in the README, every variable', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const option of Object.values(criteriaOptions)) expect(readme, option.env).toContain(`| \`${option.env}\` |`);
  });
});
