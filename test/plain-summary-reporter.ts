import type { Reporter, TestModule } from 'vitest/node';

/** How many of the slowest files the summary names: where to look when the suite outgrows its budget. */
const SLOWEST_FILES_SHOWN = 12;

/**
 * Ends the run with one plain line, `tests: N passed, N failed, N skipped`,
 * that any CI log reader understands (vitest's own summary is colored and
 * laid out for people), after the slowest files and their durations.
 */
export default class PlainSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) counts[test.result().state] += 1;
      // A file that fails outside its tests (import, hooks) is a failure too.
      counts.failed += module.errors().length;
    }
    counts.failed += unhandledErrors.length;
    const slowest = testModules
      .map((module) => ({ file: module.relativeModuleId, ms: module.diagnostic().duration }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, SLOWEST_FILES_SHOWN)
      .map(({ file, ms }) => `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${file}`);
    process.stdout.write(
      `\nslowest files:\n${slowest.join('\n')}\n` +
        `\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
    );
  }
}
