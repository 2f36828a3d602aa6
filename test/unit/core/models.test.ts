import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The modules that resolve `zod` when `module` is imported in a fresh Node process. */
function zodImportersOf(module: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const importers = [];
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier === 'zod' || specifier.startsWith('zod/')) importers.push(context.parentURL);
        return next(specifier, context);
      },
    });
    await import(${JSON.stringify(fileURLToPath(new URL(module, import.meta.url)))});
    console.log(JSON.stringify(importers));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as string[];
}

describe('core/models.ts, what workflows import values from', () => {
  it('loads no zod: a workflow start builds no schema', () => {
    expect(zodImportersOf('../../../core/models.ts')).toEqual([]);
  });

  it('is told apart from core/index.ts, which does load zod (the check can fail)', () => {
    expect(zodImportersOf('../../../core/index.ts').length).toBeGreaterThan(0);
  });
});
