// The peer on the same work: SWUpdate (Debian `swupdate`) writes the same image into
// a file-backed slot from a signed .swu (DEVICE-TOOLS.md, "SWUpdate"), from a local
// file (-i) or streamed over HTTP from 127.0.0.1 (-d), as Uproll's agent downloads it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { track } from './agent-process.ts';
import { readRss, sleep } from './proc-rss.ts';
import { makeSigningCa, missingTool, tool } from './signing-ca.ts';

const TIME = '/usr/bin/time';
const HW = 'board:1.0';

export type SwupdateMode = 'file' | 'download';

/** One install by a peer updater. */
export interface PeerFigures {
  seconds: number;
  /** Peak RSS (KiB): GNU time's maximum over the process and its children, or VmHWM of the process. */
  peakKb: number;
  peakSource: 'time -v' | 'VmHWM';
}

export interface SwupdateKit {
  /** Runs one install, checks the slot holds the image, and returns its figures. */
  run(mode: SwupdateMode): Promise<PeerFigures>;
  close(): Promise<void>;
}

/** Why SWUpdate cannot run here, or undefined when it can. */
export function swupdateMissing(): string | undefined {
  return missingTool([
    ['swupdate', '--version', 'swupdate'],
    ['openssl', 'version', 'openssl'],
    ['cpio', '--version', 'cpio'],
  ]);
}

/** A CA, a signer, a signed .swu of `image` for a slot file in `dir`, and a server of it on 127.0.0.1. */
export async function prepareSwupdate(dir: string, image: Uint8Array): Promise<SwupdateKit> {
  await mkdir(dir, { recursive: true });
  const at = (name: string) => join(dir, name);
  const sha256 = createHash('sha256').update(image).digest('hex');
  await writeFile(at('rootfs.ext4'), image);
  await makeSigningCa(dir);
  await writeFile(at('sw-description'), swDescription(sha256, at('slot.img')));
  tool('openssl', [
    ...['cms', '-sign', '-in', at('sw-description'), '-out', at('sw-description.sig')],
    ...['-signer', at('signer.crt'), '-inkey', at('signer.key'), '-outform', 'DER', '-nosmimecap', '-binary'],
  ]);
  // The .swu is a cpio (new ASCII format with CRC); sw-description must come first, its signature next.
  tool(
    'sh',
    [
      '-c',
      `printf '%s\\n' sw-description sw-description.sig rootfs.ext4 | cpio -o -H crc --quiet > update.swu`,
    ],
    dir,
  );
  await rm(at('rootfs.ext4'));
  await writeFile(at('swupdate.cfg'), 'globals :\n{\n  loglevel = 2;\n};\n');

  const server = createServer((_req, res) => {
    void stat(at('update.swu')).then(({ size }) => {
      res.setHeader('content-length', size);
      createReadStream(at('update.swu')).pipe(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };

  return {
    async run(mode) {
      await truncate(at('slot.img'), 0).catch(() => writeFile(at('slot.img'), ''));
      await truncate(at('slot.img'), image.length);
      const source =
        mode === 'file' ? ['-i', at('update.swu')] : ['-d', `-u http://127.0.0.1:${port}/update.swu`];
      const figures = await timed(dir, ['-f', at('swupdate.cfg'), '-H', HW, '-k', at('ca.crt'), ...source]);
      const written = createHash('sha256')
        .update(await readFile(at('slot.img')))
        .digest('hex');
      if (written !== sha256) throw new Error(`swupdate (${mode}) left a slot that is not the image`);
      return figures;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Runs swupdate once, under GNU time when present; its own TMPDIR keeps its sockets private. */
async function timed(dir: string, args: string[]): Promise<PeerFigures> {
  const tmp = await mkdtemp(join(dir, 'tmp-'));
  const timeFile = join(tmp, 'time.txt');
  const gnuTime = existsSync(TIME);
  const [command, argv] = gnuTime ? [TIME, ['-v', '-o', timeFile, 'swupdate', ...args]] : ['swupdate', args];
  const started = performance.now();
  const child = track(
    spawn(command, argv, { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  let sampledHwm = 0;
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let done = false;
  void exited.then(() => (done = true));
  while (!gnuTime && !done) {
    sampledHwm = Math.max(sampledHwm, (await readRss(child.pid!).catch(() => ({ hwmKb: 0 }))).hwmKb || 0);
    await sleep(20);
  }
  const [code, signal] = await exited;
  const seconds = (performance.now() - started) / 1000;
  try {
    if (code !== 0) throw new Error(`swupdate ${args.join(' ')} exited ${signal ?? code}:\n${stderr}`);
    if (!gnuTime) return { seconds, peakKb: sampledHwm, peakSource: 'VmHWM' };
    const report = await readFile(timeFile, 'utf8');
    const peakKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1]);
    return { seconds, peakKb, peakSource: 'time -v' };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A CA and a signer certificate it issued for signing (S/MIME purpose, SWUpdate's default). */
function swDescription(sha256: string, slot: string): string {
  return `software =
{
  version = "2.0";
  hardware-compatibility: [ "${HW.split(':')[1]}" ];
  images: (
    {
      filename = "rootfs.ext4";
      device = "${slot}";
      type = "raw";
      sha256 = "${sha256}";
    }
  );
}
`;
}
