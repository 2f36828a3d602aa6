import { describe, expect, it } from 'vitest';
import { rolloutPolicySchema } from '../../../core/index.ts';
import { main } from '../../../cli/main.ts';
import { captureIo } from '../../cli-io.ts';

describe('the help of rollout plan and rollout start', () => {
  it("gives each policy option's default as the policy schema has it", async () => {
    const defaults = rolloutPolicySchema.parse({});
    for (const command of ['plan', 'start']) {
      const io = captureIo();
      expect(await main(['rollout', command, '--help'], io)).toBe(0);
      const help = (option: string) =>
        io
          .stdout()
          .split('\n')
          .find((line) => line.includes(`--${option} `));
      expect(help('canary')).toContain(`(default ${defaults.canary})`);
      expect(help('max-in-flight')).toContain(`(default ${defaults.maxInFlight})`);
      expect(help('min-sample')).toContain(`(default ${defaults.gate.minSample})`);
      expect(help('max-failure-rate')).toContain(`(default ${defaults.gate.maxFailureRate})`);
      expect(help('soak')).toContain(`(default ${defaults.gate.soakMs})`);
      expect(help('on-breach')).toContain(`(default ${defaults.onBreach})`);
      expect(help('offline')).toContain(`(default ${defaults.offline.action})`);
      expect(help('offline-after')).toContain(`(default ${defaults.offline.afterMs})`);
      expect(help('waves')).toContain('(default 10,50,100)');
      expect(defaults.waves).toEqual({ percentages: [10, 50, 100] });
    }
  });
});
