import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDeviceBundle } from '../../agent/index.ts';
import { workerKeyServices } from '../../cli/worker-keys.ts';
import { startRepositoryServer } from '../../services/image-repo/index.ts';
import { updateManagerFor } from './agent-rig.ts';
import { BOTH_PASSPHRASES, keyCli, ONLINE_ENV } from './key-cli.ts';

/**
 * What a Director key test needs, made as an operator makes it: a key store
 * and repositories from `uproll keys init` (with `initArgs`), the Image
 * repository and the Director served over HTTP, one device provisioned with
 * the CLI and its update manager, and the rollout worker's key services
 * (workerKeyServices), started once as a running worker would be.
 */
export async function startDirectorDevice(deviceId: string, initArgs: readonly string[] = []) {
  const cli = await keyCli();
  const ok = (step: string, result: { status: number; stderr: string }) => {
    if (result.status !== 0) throw new Error(`${step} exited ${result.status}: ${result.stderr}`);
  };
  ok('keys init', await cli.run('keys', 'init', ...initArgs, ...BOTH_PASSPHRASES));
  const image = await startRepositoryServer({ dir: join(cli.stateDir, 'image-repo') });
  const director = await startRepositoryServer({ dir: join(cli.stateDir, 'director'), areas: ['devices'] });
  ok(
    'devices provision',
    await cli.run(
      ...[
        'devices',
        'provision',
        deviceId,
        '--hardware-id',
        'rpi4',
        '--passphrase-env',
        ONLINE_ENV,
        '--no-nats',
      ],
      ...['--image-url', image.url, '--director-url', director.url],
    ),
  );
  const identity = await loadDeviceBundle(join(cli.stateDir, 'devices', deviceId));
  const manager = updateManagerFor(identity, join(cli.stateDir, 'device-data'), { clock: () => new Date() });
  const worker = await workerKeyServices({ 'state-dir': cli.stateDir }, 'online passphrase');
  let releases = 0;
  return {
    cli,
    manager,
    worker,
    /** Releases a revision with the CLI and has the worker's Director assign it to the device; returns the rollout id. */
    async releaseAndAssign(revision: string): Promise<string> {
      const artifact = join(cli.stateDir, `${revision}.bin`);
      await writeFile(artifact, randomBytes(256));
      ok(
        `release revision ${revision}`,
        await cli.run(
          ...['release', 'revision', revision, `app.bin=${artifact}`, '--hardware-id', 'rpi4'],
          ...['--release-counter', String(++releases), '--passphrase-env', ONLINE_ENV],
        ),
      );
      const rolloutId = `r-${revision}`;
      await worker.releases.assign(deviceId, revision, rolloutId);
      return rolloutId;
    },
    /** The device's last signed report reaches the Director (as the report listener delivers it). */
    async report() {
      const manifests = (await manager.journal.after(0)).filter((e) => e.kind === 'manifest');
      await worker.director.receiveManifest(
        deviceId,
        Buffer.from(JSON.stringify(manifests.at(-1)?.body)),
        new Date(),
      );
    },
    /** The version of the Director root the device trusts now. */
    async trustedDirectorRoot() {
      const root = await readFile(
        join(cli.stateDir, 'device-data', 'trust', 'director', 'root.json'),
        'utf8',
      );
      return (JSON.parse(root) as { signed: { version: number } }).signed.version;
    },
    async close() {
      await manager.idle();
      await Promise.all([image.close(), director.close()]);
    },
  };
}
