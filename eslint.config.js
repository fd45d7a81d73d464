import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/generated/**', '**/node_modules/**', '.stack/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['packages/cli/**', 'test/bench/**', 'bin/**', 'schemas/scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Pages served to browsers, with Chart.js loaded before them.
    files: ['services/*/src/web/**/*.js'],
    languageOptions: { globals: { ...globals.browser, Chart: 'readonly' } },
  },
);
