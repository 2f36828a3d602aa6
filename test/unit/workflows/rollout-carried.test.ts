import { describe, expect, it } from 'vitest';
import { rolloutPolicySchema } from '../../../core/index.ts';
import type { LegacyCarried } from '../../../workflows/contracts.ts';
import { fromLegacy, isLegacy } from '../../../workflows/rollout-carried.ts';

describe('a state carried by a run from before the compact state', () => {
  const legacy: LegacyCarried = {
    policy: rolloutPolicySchema.parse({ canary: 1, offline: { action: 'wait' } }),
    waves: [['a'], ['b', 'c', 'd']],
    nextWave: 1,
    status: 'running',
    devices: {
      a: { outcome: 'committed', attempts: 2, since: 10 },
      b: {
        outcome: 'pending',
        attempts: 1,
        since: 20,
        reason: { code: 'DEVICE_OFFLINE', message: 'no answer' },
      },
    },
  };

  it('is read as counts, the plan in wave order, and the committed devices with their attempts', () => {
    expect(isLegacy(legacy)).toBe(true);
    const { state, plan, committed } = fromLegacy(legacy);
    expect(plan).toEqual(['a', 'b', 'c', 'd']);
    expect(committed).toEqual({ a: { attempts: 2, since: 10 } });
    expect(state.waves).toEqual([1, 3]);
    expect(state.nextWave).toBe(1);
    expect(state.counts).toMatchObject({ committed: 1, failed: 0 });
    expect(state.pendingDevices()).toEqual([['b', 20]]);
    expect(state.startWave()).toMatchObject({ index: 1, offset: 1, size: 3, resumed: false });
  });
});
