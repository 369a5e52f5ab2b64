// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'bench/results/', 'test-artifacts/', 'bench/tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  // The dependency rule of DESIGN.md, enforced: api never touches store, bus or gateways;
  // those three never touch each other or core; domain touches nothing.
  {
    files: ['src/api/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/store/**', '**/bus/**', '**/gateways/**', '**/store/*', '**/bus/*', '**/gateways/*'] }] },
  },
  {
    files: ['src/store/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/core/*', '**/bus/*', '**/gateways/*', '**/api/*', '**/core/**', '**/bus/**', '**/gateways/**', '**/api/**'] }] },
  },
  {
    files: ['src/bus/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/core/*', '**/store/*', '**/gateways/*', '**/api/*', '**/core/**', '**/store/**', '**/gateways/**', '**/api/**'] }] },
  },
  {
    files: ['src/gateways/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/core/*', '**/store/*', '**/bus/*', '**/api/*', '**/core/**', '**/store/**', '**/bus/**', '**/api/**'] }] },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../*', '!../domain/*'] }] },
  },
);
