// Another peer: RAUC 1.8 (Debian `rauc`) installs the same image from a signed plain
// bundle into the inactive one of two file slots. Its service needs a system bus: a
// private dbus-daemon on a socket in the run's temp dir (DEVICE-TOOLS.md, "RAUC").
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { track } from './agent-process.ts';
import { readRss, resetPeak, sleep } from './proc-rss.ts';
import { makeSigningCa, missingTool, tool } from './signing-ca.ts';
import type { PeerFigures } from './swupdate-run.ts';

const READY_TIMEOUT_MS = 10_000;

export interface RaucKit {
  /** Installs the bundle once, checks the slot holds the image, and returns its figures. */
  run(): Promise<PeerFigures>;
  close(): Promise<void>;
}

/** Why RAUC cannot run here, or undefined when it can. */
export function raucMissing(): string | undefined {
  return missingTool([
    ['rauc', '--version', 'rauc'],
    ['dbus-daemon', '--version', 'dbus-daemon'],
    ['mksquashfs', '-version', 'squashfs-tools'],
    ['openssl', 'version', 'openssl'],
  ]);
}

/** A signed bundle of `image`, two file slots, and RAUC's service on a private bus, in `dir`. */
export async function prepareRauc(dir: string, image: Uint8Array): Promise<RaucKit> {
  await mkdir(join(dir, 'content'), { recursive: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  const at = (name: string) => join(dir, name);
  const sha256 = createHash('sha256').update(image).digest('hex');
  await makeSigningCa(dir);
  await writeFile(at('content/rootfs.ext4'), image);
  await writeFile(at('content/manifest.raucm'), MANIFEST);
  // Uncompressed squashfs: the image is random data, and compressing it only costs time.
  tool(
    'rauc',
    [
      'bundle',
      '--cert=signer.crt',
      '--key=signer.key',
      '--keyring=ca.crt',
      '--mksquashfs-args=-noI -noD -noF -noX',
      'content',
      'bundle.raucb',
    ],
    dir,
  );
  await rm(at('content'), { recursive: true, force: true });
  for (const slot of ['slot-a.img', 'slot-b.img']) await writeFile(at(slot), '');
  await writeFile(at('system.conf'), systemConf(dir));
  await writeFile(at('bus.conf'), busConf(at('bus.sock')));

  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${at('bus.sock')}` };
  const started: ChildProcess[] = [];
  const startDaemon = (command: string, args: string[]) => {
    const child = track(spawn(command, args, { env, stdio: 'ignore' }));
    started.push(child);
    return child;
  };
  const close = async () => {
    for (const child of started.reverse())
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
  };
  try {
    startDaemon('dbus-daemon', [`--config-file=${at('bus.conf')}`, '--nofork', '--nopidfile']);
    await until('the private dbus-daemon to listen', () => existsSync(at('bus.sock')));
    const service = startDaemon('rauc', ['service', `--conf=${at('system.conf')}`, '--override-boot-slot=A']);
    await until('the RAUC service to answer', () => spawnSync('rauc', ['status'], { env }).status === 0);

    return {
      async run() {
        // The booted slot is A, so each install writes B: empty it first, so the check below means something.
        await truncate(at('slot-b.img'), 0);
        await truncate(at('slot-b.img'), image.length);
        const exact = await resetPeak(service.pid!);
        const begun = performance.now();
        const install = track(
          spawn('rauc', ['install', at('bundle.raucb')], { env, stdio: ['ignore', 'ignore', 'pipe'] }),
        );
        let stderr = '';
        install.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
        const [code] = (await once(install, 'exit')) as [number | null];
        const seconds = (performance.now() - begun) / 1000;
        if (code !== 0) throw new Error(`rauc install exited ${code}:\n${stderr}`);
        const written = createHash('sha256')
          .update(await readFile(at('slot-b.img')))
          .digest('hex');
        if (written !== sha256) throw new Error('rauc install left a slot that is not the image');
        if (!exact) throw new Error('cannot reset VmHWM of the RAUC service (/proc/PID/clear_refs)');
        return { seconds, peakKb: (await readRss(service.pid!)).hwmKb, peakSource: 'VmHWM' };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const MANIFEST = `[update]
compatible=uproll-bench
version=2.0

[bundle]
format=plain

[image.rootfs]
filename=rootfs.ext4
`;

function systemConf(dir: string): string {
  return `[system]
compatible=uproll-bench
bootloader=noop
bundle-formats=plain
data-directory=${join(dir, 'data')}

[keyring]
path=${join(dir, 'ca.crt')}

[slot.rootfs.0]
device=${join(dir, 'slot-a.img')}
type=raw
bootname=A

[slot.rootfs.1]
device=${join(dir, 'slot-b.img')}
type=raw
bootname=B
`;
}

/** A system bus that lets anyone own and call anything: it lives in a temp dir, for one benchmark. */
function busConf(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`;
}
