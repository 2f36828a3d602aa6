import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deploymentOf } from '../../../cli/deployment.ts';
import { main } from '../../../cli/main.ts';
import { findFreePort } from '../../../services/dev-stack/index.ts';
import { captureIo } from '../../cli-io.ts';
import { spawnUproll } from '../../helpers/cli-process.ts';

// How every command that reaches Temporal and NATS is pointed at a deployment: the options, else
// the environment, else the local stack. Nothing listens on the ports here.

let stateDir: string;
let seedFile: string;
let temporal: string;
let nats: string;
const noDeploymentEnv = { UPROLL_TEMPORAL: '', UPROLL_NATS: '', UPROLL_NATS_CREDS: '' };

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cli = spawnUproll([...argv, '--state-dir', stateDir], { ...noDeploymentEnv, ...env });
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout.join('\n'), stderr: cli.stderr.join('\n') };
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-deployment-'));
  seedFile = join(stateDir, 'services.seed');
  // A well-formed user seed: these tests never get as far as authenticating.
  await writeFile(seedFile, `SU${'A'.repeat(56)}\n`, { mode: 0o600 });
  temporal = `127.0.0.1:${await findFreePort()}`;
  nats = `nats://127.0.0.1:${await findFreePort()}`;
});

describe('the deployment a command reaches', () => {
  describe('when only part of it is named', () => {
    it('refuses half an address on the command line as a usage error naming what is missing', async () => {
      const half = await run(['rollout', 'status', 'r-1', '--temporal', temporal]);
      expect(half.code).toBe(2);
      expect(half.stderr).toContain(
        '--temporal, --nats and --nats-seed-file go together (or none, for the local stack); ' +
          'missing: --nats ($UPROLL_NATS), --nats-seed-file ($UPROLL_NATS_CREDS)',
      );
    });

    it('refuses half of one in the environment before any command changes anything', async () => {
      const half = await run(['events', 'tail'], { UPROLL_NATS: nats, UPROLL_NATS_CREDS: seedFile });
      expect(half.code).toBe(2);
      expect(half.stderr).toContain('missing: --temporal ($UPROLL_TEMPORAL)');
    });
  });

  it('refuses an address that is not one', async () => {
    const bad = await run([
      'devices',
      'list',
      '--temporal',
      'temporal',
      '--nats',
      nats,
      '--nats-seed-file',
      seedFile,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('uproll: INVALID_INPUT: --temporal ($UPROLL_TEMPORAL): must be HOST:PORT');
  });

  it('takes an option over its variable', async () => {
    const elsewhere = `nats://127.0.0.1:${await findFreePort()}`;
    const tail = await run(['events', 'tail', '--nats', elsewhere], {
      UPROLL_TEMPORAL: temporal,
      UPROLL_NATS: nats,
      UPROLL_NATS_CREDS: seedFile,
    });
    expect(tail.code).toBe(1);
    expect(tail.stderr).toContain(`uproll: NATS_UNREACHABLE: cannot reach NATS at ${elsewhere}: `);
  });

  describe('when its servers do not answer', () => {
    it('ends with TEMPORAL_UNREACHABLE for a Temporal that does not answer', async () => {
      const status = await run([
        'rollout',
        'status',
        'r-1',
        '--temporal',
        temporal,
        '--nats',
        nats,
        '--nats-seed-file',
        seedFile,
      ]);
      expect(status.code).toBe(1);
      expect(status.stderr).toBe(
        `uproll: TEMPORAL_UNREACHABLE: cannot reach Temporal at ${temporal}: Failed to connect before the deadline`,
      );
    }, 30_000);

    it('ends with NATS_UNREACHABLE for a NATS that does not answer, named by the environment', async () => {
      const tail = await run(['events', 'tail'], {
        UPROLL_TEMPORAL: temporal,
        UPROLL_NATS: nats,
        UPROLL_NATS_CREDS: seedFile,
      });
      expect(tail.code).toBe(1);
      expect(tail.stderr).toMatch(new RegExp(`^uproll: NATS_UNREACHABLE: cannot reach NATS at ${nats}: `));
    }, 30_000);

    it('stops serve and worker at start with the same code, instead of running without their NATS', async () => {
      for (const command of [['serve', '--only', 'projector'], ['worker']]) {
        const started = await run([
          ...command,
          '--temporal',
          temporal,
          '--nats',
          nats,
          '--nats-seed-file',
          seedFile,
        ]);
        expect(started.code, command[0]).toBe(1);
        expect(started.stderr).toMatch(
          new RegExp(`^uproll: NATS_UNREACHABLE: cannot reach NATS at ${nats}: `),
        );
      }
    }, 30_000);
  });

  it('says so in the help of the commands that reach it', async () => {
    for (const command of [
      ['rollout', 'start'],
      ['rollout', 'status'],
      ['rollout', 'list'],
      ['rollout', 'pause'],
      ['rollout', 'rollback'],
      ['rollout', 'retry-failed'],
      ['rollout', 'watch'],
      ['devices', 'list'],
      ['devices', 'show'],
      ['devices', 'tag'],
      ['events', 'tail'],
      ['events', 'rebuild'],
      ['serve'],
      ['worker'],
      ['api', 'serve'],
    ]) {
      const io = captureIo();
      expect(await main([...command, '--help'], io)).toBe(0);
      expect(io.stdout(), command.join(' ')).toContain('--nats-seed-file');
      expect(io.stdout(), command.join(' ')).toContain('$UPROLL_NATS_CREDS');
    }
  });
});

describe("the TLS of the state dir's own nats-server", () => {
  it("trusts the state dir's server CA for the URL of nats init once nats config gave it TLS, and only that URL", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uproll-deployment-tls-'));
    const own = 'nats://nats.example.com:4222';
    const inDir = async (...argv: string[]) => main([...argv, '--state-dir', dir], captureIo());
    expect(await inDir('nats', 'init', '--url', own)).toBe(0);
    const named = (natsUrl: string, extra: Record<string, string> = {}) =>
      deploymentOf({ 'state-dir': dir, temporal, nats: natsUrl, 'nats-seed-file': seedFile, ...extra });

    expect((await named(own)).natsTls).toBeUndefined();
    expect(await inDir('nats', 'config', '--out', join(dir, 'nats.conf'))).toBe(0);

    expect((await named(own)).natsTls).toEqual({ caFile: join(dir, 'tls', 'ca.crt') });
    expect((await named(nats)).natsTls).toBeUndefined();
    const given = join(dir, 'other-ca.crt');
    expect((await named(own, { 'nats-ca-file': given })).natsTls).toEqual({ caFile: given });

    expect(await inDir('nats', 'config', '--out', join(dir, 'nats.conf'), '--insecure')).toBe(0);
    expect((await named(own)).natsTls).toBeUndefined();
  });
});
