import { afterEach, describe, expect, it } from 'vitest';
import { startWatchdog, watchdogIntervalMs, type ServiceNotifier } from '../../../agent/index.ts';
import { eventually } from '../../helpers/eventually.ts';

function recordingNotifier() {
  const sent: Record<string, string>[] = [];
  const notifier: ServiceNotifier = {
    enabled: true,
    notify: (state) => {
      sent.push({ ...state });
      return Promise.resolve();
    },
  };
  return { notifier, sent };
}

let stop = () => {};
afterEach(() => stop());

describe('the service watchdog', () => {
  describe('while the probe answers', () => {
    it('pings WATCHDOG=1 after each answer', async () => {
      const { notifier, sent } = recordingNotifier();
      let probes = 0;
      ({ stop } = startWatchdog({ notifier, intervalMs: 20, probe: () => Promise.resolve(++probes) }));

      await eventually('three pings', () => sent.length >= 3);
      expect(sent.every((state) => state['WATCHDOG'] === '1')).toBe(true);
      expect(probes).toBeGreaterThanOrEqual(sent.length);
    });
  });

  describe('when the probe hangs (the control socket no longer answers)', () => {
    it('stops pinging, so the service manager restarts the agent, and says why', async () => {
      const { notifier, sent } = recordingNotifier();
      const logged: string[] = [];
      let probes = 0;
      ({ stop } = startWatchdog({
        notifier,
        intervalMs: 20,
        probe: () => {
          probes += 1;
          return new Promise(() => {}); // never answers
        },
        log: (line) => logged.push(line),
      }));

      await eventually('three probes that timed out', () => logged.length >= 3);
      expect(probes).toBeGreaterThanOrEqual(3);
      expect(sent).toEqual([]);
      expect(logged[0]).toBe('watchdog not pinged: no answer within 20 ms');
    });
  });

  describe('when the probe fails', () => {
    it('does not ping', async () => {
      const { notifier, sent } = recordingNotifier();
      const logged: string[] = [];
      ({ stop } = startWatchdog({
        notifier,
        intervalMs: 20,
        probe: () => Promise.reject(new Error('connect ECONNREFUSED control.sock')),
        log: (line) => logged.push(line),
      }));

      await eventually('two failed probes', () => logged.length >= 2);
      expect(sent).toEqual([]);
      expect(logged[0]).toBe('watchdog not pinged: connect ECONNREFUSED control.sock');
    });
  });
});

describe('watchdogIntervalMs', () => {
  it('is half of WATCHDOG_USEC', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
  });

  it('is undefined without a watchdog, for another process, or for a value that is not a number', () => {
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30s' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '9'.repeat(40) }, 42)).toBeUndefined();
  });
});
