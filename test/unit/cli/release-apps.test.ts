import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { StateRevision } from '../../../core/index.ts';
import { keyCli } from '../../helpers/key-cli.ts';
import { busyboxImage } from '../../helpers/oci-image.ts';

let stateDir: string;
let run: Awaited<ReturnType<typeof keyCli>>['run'];
let init: () => ReturnType<typeof run>;
beforeEach(async () => {
  ({ stateDir, run, init } = await keyCli());
});

const release = (name: string, ...args: string[]) =>
  run(
    ...['release', 'revision', name, ...args, '--hardware-id', 'rpi4', '--release-counter', '1'],
    ...['--passphrase-env', 'TEST_ONLINE_PASSPHRASE', '--json'],
  );

describe('uproll release revision --app', { timeout: 60_000 }, () => {
  it('publishes apps from a local OCI layout: every blob an object, a shared layer stored once, audited', async () => {
    await init();
    const layout = join(stateDir, 'layout');
    const image = await busyboxImage(layout, 'v1', { cmd: ['/bin/sleep', '3600'] });
    const config = join(stateDir, 'apps.json');
    await writeFile(
      config,
      JSON.stringify({
        web: { restart: 'always', volumes: [{ name: 'data', path: '/data' }], after: ['db'] },
        db: { command: ['/bin/sh', '-c', 'exec sleep 3600'], health: { runningForMs: 2000 } },
      }),
    );
    const published = await release(
      'apps-1',
      '--app',
      `db=${layout}:v1`,
      '--app',
      `web=${layout}`,
      '--app-config',
      config,
    );
    expect(published.status, published.stderr).toBe(0);
    const { revision } = JSON.parse(published.stdout) as { revision: StateRevision };
    expect(revision.artifacts).toEqual([]);
    expect(revision.apps).toMatchObject([
      { name: 'db', image: { manifest: image.manifest }, command: ['/bin/sh', '-c', 'exec sleep 3600'] },
      { name: 'web', image: { manifest: image.manifest }, restart: 'always', after: ['db'] },
    ]);
    expect(revision.apps?.[0]?.blobs.map((b) => b.sha256)).toEqual(image.blobs.map((b) => b.sha256));
    for (const blob of image.blobs)
      expect((await stat(join(stateDir, 'image-repo', 'targets', 'objects', blob.sha256))).size).toBe(
        blob.bytes.length,
      );
    const audit = await readFile(join(stateDir, 'audit-outbox.jsonl'), 'utf8');
    expect(audit).toContain('"repository.revision.published"');
    expect(audit).toContain(image.manifest);
  });

  it('refuses a layout whose layer does not match its digest, publishing nothing', async () => {
    await init();
    const layout = join(stateDir, 'layout');
    const image = await busyboxImage(layout, 'v1', { cmd: ['/bin/true'] });
    const layer = join(layout, 'blobs', 'sha256', image.blobs.at(-1)!.sha256);
    await writeFile(layer, Buffer.concat([await readFile(layer), Buffer.from('tampered')]));
    const refused = await release('apps-2', '--app', `web=${layout}:v1`);
    expect(refused).toMatchObject({ status: 1, stderr: expect.stringContaining('HASH_MISMATCH') as string });
    const revisions = await readdir(join(stateDir, 'image-repo', 'targets', 'revisions')).catch(() => []);
    expect(revisions).not.toContain('apps-2.json');
  });

  it('refuses app settings that do not validate, and settings for an app it was not given', async () => {
    await init();
    const layout = join(stateDir, 'layout');
    await busyboxImage(layout, 'v1', { cmd: ['/bin/true'] });
    const config = join(stateDir, 'apps.json');
    await writeFile(config, JSON.stringify({ web: { restart: 'sometimes' } }));
    expect(await release('apps-3', '--app', `web=${layout}:v1`, '--app-config', config)).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('INVALID_INPUT') as string,
    });
    await writeFile(config, JSON.stringify({ other: {} }));
    expect(await release('apps-4', '--app', `web=${layout}:v1`, '--app-config', config)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('names apps no --app gives: other') as string,
    });
  });
});
