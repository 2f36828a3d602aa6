import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Unit and security files are CPU-bound: one per core. Integration files
// mostly wait on Temporal, NATS and the device tools, and each has its own
// task queue, devices and consumers: more of them than cores run side by
// side. UPROLL_TEST_WORKERS sets both (1 runs every file alone).
const workers = Number(process.env['UPROLL_TEST_WORKERS'] ?? 0);
const cpuWorkers = workers || availableParallelism();
const ioWorkers = workers || availableParallelism() + 1;

export default defineConfig({
  test: {
    // Temporal workers need real processes, not worker threads.
    pool: 'forks',
    // Who the CLI's commands run as in tests (--by is required); test/unit/cli/audit.test.ts checks the refusal.
    env: { UPROLL_BY: 'uproll-tests' },
    reporters: ['default', './test/plain-summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/matchers.ts'],
          // Unit tests of the agent drive real device tools (grub-editenv, ostree, runc): on a loaded
          // machine one took 5.3 s, past vitest's 5 s default.
          testTimeout: 60_000,
          maxWorkers: cpuWorkers,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Attack and fuzz tests of the trust core, and interop with independent TUF code.
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts', 'test/interop/**/*.test.ts'],
          setupFiles: ['test/matchers.ts'],
          testTimeout: 30_000,
          maxWorkers: cpuWorkers,
          sequence: { groupOrder: 0 },
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
          maxWorkers: ioWorkers,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
