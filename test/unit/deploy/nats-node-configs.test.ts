import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { findNatsServer } from '../../../services/dev-stack/index.ts';
import { captureIo } from '../../cli-io.ts';

const deployFile = (path: string) => new URL(`../../../deploy/${path}`, import.meta.url).pathname;
const NODES = [1, 2, 3] as const;
const NATS_URLS = NODES.map((n) => `tls://nats-${n}:4222`).join(',');

let work: string;
let stateDir: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'uproll-deploy-nats-'));
  stateDir = join(work, 'state');
  // The include the nodes load is the real CLI's output (in process, as bin/uproll.js runs it):
  // the same steps as deploy/README.md, only the resolver in the temporary directory.
  await cli('nats', 'init', '--url', NATS_URLS);
});

async function cli(...argv: string[]): Promise<void> {
  const io = captureIo();
  const status = await uproll([...argv, '--state-dir', stateDir], io);
  expect(status, io.stderr()).toBe(0);
}

/** `uproll nats config --include` for a node whose trust settings go to `out`. */
async function writeTrustSettings(out: string, resolverDir: string): Promise<void> {
  await cli(
    ...['nats', 'config', '--include', '--out', out, '--resolver-dir', resolverDir],
    ...['--tls-host', NODES.map((n) => `nats-${n}`).join(',')],
  );
}

/** What `nats-server -t -c FILE` (parse and check the configuration, start nothing) says of it. */
async function natsServerTest(file: string): Promise<{ code: number; output: string }> {
  return promisify(execFile)(await findNatsServer(), ['-t', '-c', file], { encoding: 'utf8' }).then(
    ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: Number(err.code ?? 1),
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
}

/**
 * A compose node's configuration, as the container sees it, in a directory of its own: the
 * file beside `uproll/uproll-auth.conf` (the nats-config volume at /etc/nats/uproll next to
 * /etc/nats/nats-N.conf). Only store_dir is moved into the temporary directory, so that
 * checking it never creates /data on this machine.
 */
async function composeNode(n: number, text: string): Promise<string> {
  const dir = join(work, `compose-${n}`);
  await mkdir(dir, { recursive: true });
  await writeTrustSettings(join(dir, 'uproll', 'uproll-auth.conf'), join(dir, 'accounts'));
  const file = join(dir, `nats-${n}.conf`);
  await writeFile(file, text.replace('store_dir: /data/jetstream', `store_dir: ${join(dir, 'jetstream')}`));
  return file;
}

const readComposeNode = (n: number) => readFile(deployFile(`compose/nats-${n}.conf`), 'utf8');

/** The route URLs of a configuration's cluster block. */
function routesOf(text: string): string[] {
  const block = /cluster\s*\{[^]*?routes:\s*\[([^\]]*)\]/.exec(text)?.[1] ?? '';
  return block
    .split(/[\s,]+/)
    .filter(Boolean)
    .filter((item) => !item.startsWith('#'));
}

describe('deploy/compose/nats-N.conf', () => {
  it.each(NODES)(
    'nats-%i.conf with the trust settings of uproll nats config is valid to nats-server',
    async (n) => {
      const verdict = await natsServerTest(await composeNode(n, await readComposeNode(n)));

      expect(verdict.output).toContain('is valid');
      expect(verdict.code).toBe(0);
    },
  );

  it.each(NODES)('nats-%i is a JetStream node of its own whose routes name the two others', async (n) => {
    const text = await readComposeNode(n);

    expect(text).toMatch(new RegExp(`^server_name: nats-${n}$`, 'm'));
    expect(text).toMatch(/^jetstream \{\n\s+store_dir: \/data\/jetstream$/m);
    expect(text).toMatch(/^cluster \{\n\s+name: uproll\n\s+listen: 0\.0\.0\.0:6222$/m);
    expect(routesOf(text).sort()).toEqual(
      NODES.filter((other) => other !== n).map((other) => `nats-route://nats-${other}:6222`),
    );
    // Where docker-compose.yml mounts the nats-config volume, relative to /etc/nats/nats-N.conf.
    expect(text).toMatch(/^include \.\/uproll\/uproll-auth\.conf$/m);
  });

  describe('when a node configuration is broken', () => {
    it('nats-server refuses a misspelt key', async () => {
      const text = (await readComposeNode(1)).replace('jetstream {', 'jetstrem {');
      const verdict = await natsServerTest(await composeNode(1, text));

      expect(verdict.output).toMatch(/unknown field "jetstrem"/);
      expect(verdict.code).not.toBe(0);
    });

    it('nats-server refuses it when the trust settings are not where the include says', async () => {
      const text = (await readComposeNode(2)).replace('./uproll/uproll-auth.conf', './uproll/missing.conf');
      const verdict = await natsServerTest(await composeNode(2, text));

      expect(verdict.output).toMatch(/missing\.conf/);
      expect(verdict.code).not.toBe(0);
    });
  });
});

describe('deploy/systemd/nats-node.conf.example', () => {
  it('filled in for node 1, with its own trust settings beside it, is valid to nats-server', async () => {
    const dir = join(work, 'systemd');
    await mkdir(dir, { recursive: true });
    await writeTrustSettings(join(dir, 'nats-1-auth.conf'), join(dir, 'accounts'));
    const example = await readFile(deployFile('systemd/nats-node.conf.example'), 'utf8');
    const filled = example
      .replaceAll('nats-N', 'nats-1')
      .replace('nats-A.example.com', 'nats-2.example.com')
      .replace('nats-B.example.com', 'nats-3.example.com')
      .replace('/var/lib/uproll-nats/N/jetstream', join(dir, 'jetstream'));
    const settings = filled.split('\n').filter((line) => !line.trimStart().startsWith('#'));
    expect(settings.join('\n')).not.toMatch(/\bN\b|nats-[AB]\./); // every placeholder was filled in
    const file = join(dir, 'nats-1.conf');
    await writeFile(file, filled);

    const verdict = await natsServerTest(file);

    expect(verdict.output).toContain('is valid');
    expect(verdict.code).toBe(0);
  });
});
