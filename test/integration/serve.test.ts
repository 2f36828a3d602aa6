import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as cli } from '../../cli/main.ts';
import {
  findFreePort,
  serviceCredentials,
  startLocalStack,
  stopLocalStack,
} from '../../services/dev-stack/index.ts';
import { captureIo } from '../cli-io.ts';
import { getTrusting } from '../helpers/https-get.ts';

// `uproll serve` as an operator runs it: its own process, against a Temporal and a NATS given by
// address (here a stack of this file's own, so its worker and consumers meet no other test's), with
// a key store and repositories made by `uproll keys init`.

const PASSPHRASES = { UPROLL_TEST_OFFLINE: 'offline passphrase', UPROLL_TEST_ONLINE: 'online passphrase' };

let stackDir: string;
let deployDir: string;
let stack: { temporal: string; nats: string };
let seedFile: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stackDir = await mkdtemp(join(tmpdir(), 'uproll-serve-stack-'));
  deployDir = await mkdtemp(join(tmpdir(), 'uproll-serve-deploy-'));
  const status = await startLocalStack({
    clock: () => new Date(),
    stateDir: stackDir,
    ports: { temporal: await findFreePort(), nats: await findFreePort(), natsMonitor: await findFreePort() },
  });
  stack = { temporal: status.temporal.address, nats: status.nats.address };
  seedFile = join(deployDir, 'services.nkey');
  await writeFile(seedFile, `${await serviceCredentials(stackDir)}\n`, { mode: 0o600 });
  Object.assign(process.env, PASSPHRASES);
  const io = captureIo();
  const initialized = await cli(
    [
      'keys',
      'init',
      '--state-dir',
      deployDir,
      '--offline-passphrase-env',
      'UPROLL_TEST_OFFLINE',
      '--online-passphrase-env',
      'UPROLL_TEST_ONLINE',
    ],
    io,
  );
  expect(initialized, io.stderr()).toBe(0);
}, 120_000);
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await stopLocalStack(stackDir);
  await rm(stackDir, { recursive: true, force: true });
  await rm(deployDir, { recursive: true, force: true });
});

/** Spawns `uproll serve ARGS` and resolves with its first line of output (the ready line), or its exit. */
async function serve(args: string[]) {
  const child = spawn(
    process.execPath,
    ['bin/uproll.js', 'serve', '--json', '--state-dir', deployDir, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...PASSPHRASES },
    },
  );
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const firstLine = once(createInterface({ input: child.stdout }), 'line').then(([line]) => line as string);
  const ready = await Promise.race([firstLine, exited.then(() => undefined)]);
  return { child, exited, stderr: () => stderr, ready: ready ? (JSON.parse(ready) as ReadyLine) : undefined };
}

interface ReadyLine {
  ready: boolean;
  parts: string[];
  urls: Record<string, string>;
  temporal?: string;
}

describe('uproll serve', () => {
  it('runs every part against a Temporal and a NATS given by address, and stops cleanly on SIGTERM', async () => {
    const [image, director, api] = [await findFreePort(), await findFreePort(), await findFreePort()];
    const server = await serve([
      '--temporal',
      stack.temporal,
      '--nats',
      stack.nats,
      '--nats-seed-file',
      seedFile,
      '--nats-ca-file',
      join(stackDir, 'tls', 'ca.crt'),
      '--passphrase-env',
      'UPROLL_TEST_ONLINE',
      '--image-port',
      String(image),
      '--director-port',
      String(director),
      '--api-port',
      String(api),
      '--task-queue',
      'uproll-serve-test',
    ]);
    expect(server.ready, server.stderr()).toMatchObject({
      ready: true,
      parts: ['image', 'director', 'api', 'bridge', 'projector', 'reports', 'worker'],
      temporal: stack.temporal,
      taskQueue: 'uproll-serve-test',
    });
    const urls = server.ready!.urls;

    // The Image repository serves its signed root; the Director serves per-device folders only.
    // All over HTTPS, with a certificate from the deployment's server CA.
    const get = (url: string) => getTrusting(url, join(deployDir, 'tls', 'ca.crt'));
    expect(Object.values(urls).every((url) => url.startsWith('https://127.0.0.1:'))).toBe(true);
    const root = await get(`${urls['image']}/metadata/1.root.json`);
    expect(root.status).toBe(200);
    expect(root.body).toEqual(await readFile(join(deployDir, 'image-repo', 'metadata', '1.root.json')));
    expect((await get(`${urls['director']}/devices/nosuch/metadata/root.json`)).status).toBe(404);
    expect((await get(`${urls['director']}/keys/`)).status).toBe(404);
    // The management API wants a token.
    const refused = await get(`${urls['api']}/keys`);
    expect(refused.status).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    // Its dashboard is a page anyone may load (built by setup); the page asks for a token.
    const dashboard = await get(urls['api']!.replace(/\/api\/v1$/, '/dashboard/'));
    expect(dashboard.status).toBe(200);
    expect(dashboard.body.toString()).toContain('<script type="module" src="app.js">');
    // A client that does not trust the CA is refused, and plain HTTP gets no answer.
    await expect(fetch(`${urls['image']}/metadata/1.root.json`)).rejects.toThrow();
    await expect(
      fetch(`${urls['image']!.replace('https:', 'http:')}/metadata/1.root.json`),
    ).rejects.toThrow();
    // The rollout worker polls the task queue it was given, and no other.
    const connection = await Connection.connect({ address: stack.temporal });
    try {
      const pollersOf = async (name: string) =>
        (
          await connection.workflowService.describeTaskQueue({
            namespace: 'default',
            taskQueue: { name },
            taskQueueType: 1, // workflow tasks
          })
        ).pollers ?? [];
      expect((await pollersOf('uproll-serve-test')).length).toBeGreaterThan(0);
      expect(await pollersOf('uproll')).toEqual([]);
      // Its metadata freshness Schedule starts its job on that queue too.
      const schedule = await new Client({ connection }).schedule
        .getHandle('metadata-freshness/uproll-serve-test')
        .describe();
      expect(schedule.action).toMatchObject({ taskQueue: 'uproll-serve-test' });
    } finally {
      await connection.close();
    }

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toBe(
      // keys init ran with no stack: its audit events waited in the outbox, and serve sent them.
      `uproll serve: audit events sent to the event log events=2 outbox=${join(deployDir, 'audit-outbox.jsonl')}\n` +
        'uproll serve: refused GET /api/v1/keys code=UNAUTHORIZED\nuproll serve: SIGTERM, stopping\nuproll serve: stopped\n',
    ); // and nothing else
    expect(await readFile(join(deployDir, 'audit-outbox.jsonl'), 'utf8')).toBe('');
  }, 180_000);

  it('runs only the parts named: the Image repository needs no Temporal, NATS or passphrase', async () => {
    const port = await findFreePort();
    const server = await serve(['--only', 'image', '--image-port', String(port)]);
    expect(server.ready).toMatchObject({ parts: ['image'], urls: { image: `https://127.0.0.1:${port}` } });
    const root = await getTrusting(
      `${server.ready!.urls['image']}/metadata/1.root.json`,
      join(deployDir, 'tls', 'ca.crt'),
    );
    expect(root.status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('serves plain HTTP only when asked with --insecure', async () => {
    const port = await findFreePort();
    const server = await serve(['--only', 'image', '--image-port', String(port), '--insecure']);
    expect(server.ready).toMatchObject({ urls: { image: `http://127.0.0.1:${port}` } });
    expect((await fetch(`${server.ready!.urls['image']}/metadata/1.root.json`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses loudly what it cannot run', async () => {
    const unknownPart = await serve(['--only', 'image,dashboard']);
    expect(await unknownPart.exited).toBe(2);
    expect(unknownPart.stderr()).toContain('--only takes parts among image, director, api');

    const halfAnAddress = await serve(['--only', 'bridge', '--temporal', stack.temporal]);
    expect(await halfAnAddress.exited).toBe(2);
    expect(halfAnAddress.stderr()).toContain('--temporal, --nats and --nats-seed-file go together');

    const badQueue = await serve(['--only', 'worker', '--task-queue', 'two words']);
    expect(await badQueue.exited).toBe(2);
    expect(badQueue.stderr()).toContain('the task queue must be 1-128 of A-Z a-z 0-9 . _ -, got "two words"');

    const noPassphrase = await serve([
      '--only',
      'worker',
      '--temporal',
      stack.temporal,
      '--nats',
      stack.nats,
      '--nats-seed-file',
      seedFile,
    ]);
    expect(await noPassphrase.exited).toBe(1);
    expect(noPassphrase.stderr()).toContain('uproll: INVALID_INPUT: no online key passphrase');

    await writeFile(join(deployDir, 'not-a-seed'), 'hello\n');
    const badSeed = await serve([
      '--only',
      'bridge',
      '--temporal',
      stack.temporal,
      '--nats',
      stack.nats,
      '--nats-seed-file',
      join(deployDir, 'not-a-seed'),
    ]);
    expect(await badSeed.exited).toBe(1);
    expect(badSeed.stderr()).toContain('does not hold NATS user credentials');
  });
});
