import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { unitSettings, verifyUnit } from '../../helpers/systemd-unit.ts';

const deployFile = (name: string) => new URL(`../../../deploy/systemd/${name}`, import.meta.url).pathname;

// The units name the programs of a production machine (/usr/bin/node, /usr/local/bin/nats-server),
// which systemd-analyze verify requires to be executable: verifyUnit installs each unit in a
// temporary --root holding a stub at exactly those paths, so the units are verified unchanged.
const SERVE_PROGRAMS = ['/usr/bin/node'];
const NATS_PROGRAMS = ['/usr/local/bin/nats-server', '/bin/kill'];

let serveUnit: string;
let natsUnit: string;
let deploymentEnv: string;
beforeAll(async () => {
  serveUnit = await readFile(deployFile('uproll-serve.service'), 'utf8');
  natsUnit = await readFile(deployFile('uproll-nats@.service'), 'utf8');
  deploymentEnv = await readFile(deployFile('deployment.env.example'), 'utf8');
});

const settingsOf = (unit: string, section: string) => Object.fromEntries(unitSettings(unit, section));

/** The hardening both units share: nothing but their state directory is writable, no privilege at all. */
const HARDENED = {
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  NoNewPrivileges: 'yes',
  CapabilityBoundingSet: '',
  Restart: 'on-failure',
};

describe('deploy/systemd/uproll-serve.service', () => {
  it('passes systemd-analyze verify without a single complaint', async () => {
    expect(await verifyUnit('uproll-serve.service', serveUnit, SERVE_PROGRAMS)).toEqual({
      code: 0,
      problems: [],
    });
  });

  it('runs uproll serve as its own user, from the deployment file, the passphrase by variable name', () => {
    const service = settingsOf(serveUnit, 'Service');

    expect(service).toMatchObject({
      User: 'uproll',
      EnvironmentFile: '/etc/uproll/deployment.env',
      ...HARDENED,
      StateDirectory: 'uproll',
      ReadWritePaths: '/var/lib/uproll',
    });
    expect(service['ExecStart']).toMatch(/^\/usr\/bin\/node \/opt\/uproll\/bin\/uproll\.js serve /);
    expect(service['ExecStart']).toContain('--passphrase-env UPROLL_ONLINE_PASSPHRASE');
  });

  it('has an example deployment file with every variable serve and the unit read', () => {
    const names = deploymentEnv
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.slice(0, line.indexOf('=')));

    expect(names).toEqual(
      expect.arrayContaining([
        'UPROLL_STATE_DIR',
        'UPROLL_TEMPORAL',
        'UPROLL_NATS',
        'UPROLL_NATS_CREDS',
        'UPROLL_TLS_HOSTS',
        'UPROLL_ONLINE_PASSPHRASE',
      ]),
    );
    const nats = /^UPROLL_NATS=(.*)$/m.exec(deploymentEnv)?.[1]?.split(',');
    expect(nats).toHaveLength(3);
  });
});

describe('deploy/systemd/uproll-nats@.service', () => {
  it('passes systemd-analyze verify as an instance without a single complaint', async () => {
    expect(await verifyUnit('uproll-nats@.service', natsUnit, NATS_PROGRAMS, '1')).toEqual({
      code: 0,
      problems: [],
    });
  });

  it("runs node %i from /etc/uproll/nats-%i.conf, writing only that node's state directory", () => {
    const service = settingsOf(natsUnit, 'Service');

    expect(service).toMatchObject({
      User: 'nats',
      ExecStart: '/usr/local/bin/nats-server -c /etc/uproll/nats-%i.conf',
      // Lame duck mode: clients move to the other nodes before this one stops.
      KillSignal: 'SIGUSR2',
      ...HARDENED,
      StateDirectory: 'uproll-nats/%i',
      ReadWritePaths: '/var/lib/uproll-nats/%i',
    });
  });
});

describe('when a unit is broken', () => {
  it('verify names a misspelt key, an impossible value and a program that is not there', async () => {
    const broken = serveUnit
      .replace(/^ProtectSystem=/m, 'ProtectSystm=')
      .replace(/^RestartSec=.*$/m, 'RestartSec=five');
    const verdict = await verifyUnit('uproll-serve.service', broken, []);

    expect(verdict.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/uproll-serve\.service:\d+: Failed to parse .*five/),
        expect.stringMatching(/uproll-serve\.service:\d+: Unknown key 'ProtectSystm' in section \[Service\]/),
        expect.stringContaining('Command /usr/bin/node is not executable'),
      ]),
    );
    expect(verdict.code).not.toBe(0);
  });

  it('verify refuses the template when its program is missing', async () => {
    const verdict = await verifyUnit('uproll-nats@.service', natsUnit, ['/bin/kill'], '2');

    expect(verdict.problems).toContainEqual(
      expect.stringContaining('Command /usr/local/bin/nats-server is not executable'),
    );
    expect(verdict.code).not.toBe(0);
  });
});
