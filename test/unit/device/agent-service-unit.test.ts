import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { AGENT_UNIT, unitSettings, verifyUnit } from '../../helpers/systemd-unit.ts';

let unit: string;
beforeAll(async () => {
  unit = await readFile(AGENT_UNIT, 'utf8');
});

const verify = (text: string) => verifyUnit('uproll-agent.service', text, ['/usr/bin/uproll-agent']);

describe('device/systemd/uproll-agent.service', () => {
  it('passes systemd-analyze verify without a single complaint', async () => {
    expect(await verify(unit)).toEqual({ code: 0, problems: [] });
  });

  it('is a notify service with a watchdog that restarts on failure, within start limits', () => {
    const service = Object.fromEntries(unitSettings(unit, 'Service'));
    const meta = Object.fromEntries(unitSettings(unit, 'Unit'));

    expect(service).toMatchObject({
      Type: 'notify',
      NotifyAccess: 'all', // notifications come from systemd-notify, a child of the agent
      Restart: 'on-failure',
      ExecStart: '/usr/bin/uproll-agent --config /etc/uproll/agent.json',
    });
    expect(service['WatchdogSec']).toMatch(/^[1-9]\d*$/);
    expect(service['RestartSec']).toMatch(/^[1-9]\d*$/);
    expect(meta['StartLimitIntervalSec']).toMatch(/^[1-9]\d*$/);
    expect(meta['StartLimitBurst']).toBe('5');
  });

  it('keeps the system read-only but the data dir and bootloader environment, and only CAP_SYS_BOOT', () => {
    const service = Object.fromEntries(unitSettings(unit, 'Service'));

    expect(service).toMatchObject({
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      NoNewPrivileges: 'yes',
      StateDirectory: 'uproll',
      CapabilityBoundingSet: 'CAP_SYS_BOOT',
    });
    expect(service['ReadWritePaths']?.split(' ')).toEqual(
      expect.arrayContaining(['/var/lib/uproll', '-/boot']),
    );
  });

  describe('when the unit is broken', () => {
    it('verify names the line of a misspelt key, an impossible value and a missing program', async () => {
      const broken = unit
        .replace(/^ProtectSystem=/m, 'ProtectSystm=')
        .replace(/^WatchdogSec=.*$/m, 'WatchdogSec=thirty');
      const verdict = await verifyUnit('uproll-agent.service', broken, []);

      expect(verdict.problems).toEqual([
        expect.stringMatching(/uproll-agent\.service:\d+: Failed to parse sec value, ignoring: thirty/),
        expect.stringMatching(/uproll-agent\.service:\d+: Unknown key 'ProtectSystm' in section \[Service\]/),
        expect.stringContaining('Command /usr/bin/uproll-agent is not executable'),
      ]);
      expect(verdict.code).not.toBe(0);
    });
  });
});
