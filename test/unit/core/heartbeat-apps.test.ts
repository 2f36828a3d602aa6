import { describe, expect, it } from 'vitest';
import {
  heartbeatSchema,
  MAX_HEARTBEAT_APPS,
  MAX_TELEMETRY_BYTES,
  parseJson,
  type HeartbeatApp,
} from '../../../core/index.ts';

const app: HeartbeatApp = {
  name: 'web',
  container: 'uproll-web-0123456789ab',
  state: 'running',
  exitCode: null,
  restarts: 0,
  startedAt: '2026-12-01T13:53:01.123456789Z', // runc's creation time, to the nanosecond
};
const beat = (apps: unknown[]) => ({
  deviceId: 'dev-1',
  at: '2026-12-01T13:53:02.000Z',
  revision: '1.0',
  trial: false,
  running: null,
  apps,
});
const parse = (value: unknown) =>
  parseJson(heartbeatSchema, JSON.stringify(value), { maxBytes: MAX_TELEMETRY_BYTES, what: 'heartbeat' });

describe('the apps of a heartbeat, as the server reads them', () => {
  it('accepts each app with its state, exit code, restarts and runc start time', () => {
    const crashed = { ...app, name: 'db', state: 'restarting', exitCode: 3, restarts: 2, startedAt: null };
    expect(parse(beat([app, crashed])).apps).toEqual([app, crashed]);
  });

  it.each([
    ['an unknown state', { state: 'sleeping' }],
    ['a name that is not a token', { name: 'web\u001b[2J' }],
    ['a container id over 128 characters', { container: 'c'.repeat(129) }],
    ['a start time that is not a time', { startedAt: 'yesterday' }],
    ['a negative restart count', { restarts: -1 }],
    ['a fractional exit code', { exitCode: 1.5 }],
  ])('refuses %s', (_what, change) => {
    expect(() => parse(beat([{ ...app, ...change }]))).toThrowWithCode('INVALID_INPUT');
  });

  it(`refuses more than ${MAX_HEARTBEAT_APPS} apps`, () => {
    const apps = Array.from({ length: MAX_HEARTBEAT_APPS + 1 }, (_, i) => ({ ...app, name: `a${i}` }));
    expect(() => parse(beat(apps))).toThrowWithCode('INVALID_INPUT');
  });

  it('fits the most apps with the longest fields under the telemetry byte cap', () => {
    const longest = { ...app, name: 'n'.repeat(64), container: 'c'.repeat(128), state: 'restarting' };
    const apps = Array.from({ length: MAX_HEARTBEAT_APPS }, () => longest);
    expect(parse(beat(apps)).apps).toHaveLength(MAX_HEARTBEAT_APPS);
  });
});
