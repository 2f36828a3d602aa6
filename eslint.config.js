// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);
const ioModules = ['fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'child_process', 'dgram', 'tls'];

export default defineConfig(
  { ignores: ['node_modules/', '.uproll/', 'coverage/', '**/dist/', 'test-artifacts/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins,
    // no I/O adapters; activities are reached through `import type` only.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins,
          patterns: [
            {
              group: ['**/adapters/**', '**/services/**', '**/agent/**', '**/cli/**'],
              message: 'workflows only orchestrate: no I/O imports',
            },
            {
              // Every workflow start evaluates the modules it imports again: no schema building there.
              group: ['zod', '**/core/**', '!**/core/models.ts'],
              allowTypeImports: true,
              message: 'workflows import values from core/models.ts, the zod-free core; types from anywhere',
            },
          ],
        },
      ],
    },
  },
  {
    // The trust core is pure: bytes and a reference time in, values or typed errors out.
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.flatMap((name) => [name, `node:${name}`]),
          patterns: [
            {
              group: ['**/services/**', '**/agent/**', '**/cli/**', '**/workflows/**', '**/activities/**'],
              message: 'core/ is pure and depends on nothing of the project',
            },
          ],
        },
      ],
    },
  },
  {
    // Clock discipline: library code takes its reference time as a parameter (a Clock);
    // only the edges (cli/, bin/, sim/, bench/, test/) read the wall clock, and
    // workflows use Temporal's deterministic one. Elapsed time: performance.now().
    files: [
      'core/**/*.ts',
      'adapters/**/*.ts',
      'keys/**/*.ts',
      'services/**/*.ts',
      'agent/**/*.ts',
      'activities/**/*.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message:
            'library code takes a Clock (or uses performance.now() for elapsed time), never Date.now()',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'library code takes a Clock, never new Date() without argument',
        },
        {
          selector: "CallExpression[callee.name='Date']",
          message: 'library code takes a Clock, never Date()',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
