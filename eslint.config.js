// Lint with the repository's boundaries (see ../shared/STYLE.md): only extension/ imports vscode,
// webview/ never imports Node, and the daemon's protocol module imports nothing but zod and itself.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'stream', 'url', 'util', 'events', 'ws'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'test/fixtures/**/out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['daemon/**/*.ts', 'webview/**/*.ts', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only extension/ imports vscode.' }] }] },
  },
  {
    files: ['daemon/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'vscode', 'ws', 'lowdb', '@napi-rs/*'], message: 'The protocol module is pure: no Node, vscode or daemon libraries.' },
          { group: ['../*'], message: 'The protocol module imports nothing else of the daemon.' },
        ],
      }],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Only extension/ imports vscode.' }],
        patterns: [{ group: nodeBuiltins, message: 'webview/ is browser code: no Node modules.' }, { regex: '^(\\.\\./)+daemon/(?!protocol/)', message: 'webview/ talks to extension/ only (it may import the daemon protocol types).' }],
      }],
    },
  },
  {
    files: ['extension/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^(\\.\\./)+daemon/(?!protocol/|client/)', message: 'extension/ imports only the daemon protocol and client modules; the daemon is a separate process.' }],
      }],
    },
  },
  {
    // Test-only VS Code extensions are plain CommonJS, loaded by the extension host as they are.
    files: ['test/fixtures/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', exports: 'writable', setTimeout: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
  },
);
