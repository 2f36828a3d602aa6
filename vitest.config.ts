import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal workers need real processes, not worker threads.
    pool: 'forks',
    // Who the CLI's commands run as in tests (--by is required); test/unit/cli/audit.test.ts checks the refusal.
    env: { UPROLL_BY: 'uproll-tests' },
    reporters: ['default', './test/plain-summary-reporter.ts'],
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: ['test/matchers.ts'] },
      },
      {
        // Attack and fuzz tests of the trust core, and interop with independent TUF code.
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts', 'test/interop/**/*.test.ts'],
          setupFiles: ['test/matchers.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          setupFiles: ['test/matchers.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
