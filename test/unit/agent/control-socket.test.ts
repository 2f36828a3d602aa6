import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlClient, startControlSocket, type ControlSocket } from '../../../agent/index.ts';
import type { Telemetry } from '../../../core/index.ts';
import { randomArtifacts, startAgentRig, type AgentRig } from '../../helpers/agent-rig.ts';
import { eventually } from '../../helpers/eventually.ts';

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let rig: AgentRig;
let socket: ControlSocket;
let client: ControlClient;

beforeEach(async () => {
  rig = await startAgentRig();
  socket = await startControlSocket(join(rig.dataDir, 'control.sock'), rig.manager);
  client = new ControlClient(socket.path);
});
afterEach(async () => {
  await socket.close();
  await rig.close();
});

/** The phases of one rollout as the events report them, from after `after`, until `last`. */
async function phasesUntil(last: string, rolloutId: string, after = 0): Promise<string[]> {
  const phases: string[] = [];
  const events = client.events(after, (entry) => {
    const telemetry = entry.body as Telemetry;
    if (entry.kind !== 'telemetry' || telemetry.rolloutId !== rolloutId) return Promise.resolve();
    phases.push(telemetry.phase);
    if (telemetry.phase === last) events.close();
    return Promise.resolve();
  });
  await events.done;
  return phases;
}

/** A raw request on the socket, for what a well-behaved client would never send. */
function raw(method: string, path: string, body: string | Buffer) {
  return new Promise<{ status: number; body: { code?: string } }>((resolve, reject) => {
    const req = request({ socketPath: socket.path, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString()) as object,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the local control socket', () => {
  it('drives a full verified update without NATS: command, progress events, status and history', async () => {
    await rig.release('1.0', randomArtifacts(2));
    expect(await client.update({ rolloutId: 'r1', revision: '1.0' })).toEqual({
      accepted: true,
      duplicate: false,
    });
    expect(await phasesUntil('committed', 'r1')).toEqual([
      'downloaded',
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    expect(await client.status()).toMatchObject({
      installer: 'ab',
      bootControl: { active: { revision: '1.0', deployment: 'a' }, trial: false },
      running: null,
    });
    expect(await client.history()).toMatchObject([
      { rolloutId: 'r1', revision: '1.0', outcome: 'committed' },
    ]);
  });

  it('replays the reports a client has not confirmed, and forgets the ones it has', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await client.update({ rolloutId: 'r1', revision: '1.0' });
    await phasesUntil('committed', 'r1');
    expect(await phasesUntil('committed', 'r1')).toEqual([
      'downloaded',
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    const entries = await rig.manager.journal.after(0);
    const delivered = entries.find((e) => e.kind === 'telemetry')!.seq; // the 'downloaded' report
    expect(await client.ack(delivered)).toEqual({ acked: delivered });
    expect(await phasesUntil('committed', 'r1', delivered)).toEqual([
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    expect((await rig.manager.journal.after(0)).map((e) => e.seq)).not.toContain(delivered);
  });

  it('takes objects handed over locally, so the update downloads nothing it was given', async () => {
    const artifacts = randomArtifacts(3);
    await rig.release('1.0', artifacts);
    for (const { bytes } of artifacts.slice(0, 2)) await client.putObject(sha256Of(bytes), bytes);
    await client.update({ rolloutId: 'r1', revision: '1.0' });
    await phasesUntil('committed', 'r1');
    expect(rig.proxy.stats.objectRequests).toHaveLength(1);
    expect(rig.proxy.stats.objectBytes).toBe(artifacts[2]!.bytes.byteLength);
  });

  it('refuses an object no revision of the device names, keeping nothing', async () => {
    const response = await raw('PUT', `/v1/objects/${'ab'.repeat(32)}`, Buffer.from('not those bytes'));
    expect(response).toEqual({
      status: 400,
      body: expect.objectContaining({ code: 'NOT_ASSIGNED' }) as object,
    });
    expect(await readdir(rig.manager.objects.dir).catch(() => [])).toEqual([]);
  });

  it('refuses an object whose bytes are not its name, keeping nothing', async () => {
    const [artifact] = randomArtifacts(1);
    await rig.release('1.0', [artifact!]);
    const other = Buffer.alloc(artifact!.bytes.byteLength, 7);
    const response = await raw('PUT', `/v1/objects/${sha256Of(artifact!.bytes)}`, other);
    expect(response).toEqual({
      status: 400,
      body: expect.objectContaining({ code: 'HASH_MISMATCH' }) as object,
    });
    expect(await readdir(rig.manager.objects.dir)).toEqual([]);
  });

  it('refuses a body longer than the object while it streams, before the sender stops', async () => {
    const [artifact] = randomArtifacts(1);
    await rig.release('1.0', [artifact!]);
    const response = await new Promise<{ status: number; body: { code?: string } }>((resolve, reject) => {
      const req = request(
        { socketPath: socket.path, path: `/v1/objects/${sha256Of(artifact!.bytes)}`, method: 'PUT' },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            req.destroy(); // the sender never ended its body: the answer came while it streamed
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString()) as object,
            });
          });
        },
      );
      req.on('error', reject);
      req.write(Buffer.concat([artifact!.bytes, Buffer.alloc(64 * 1024)]));
    });
    expect(response).toEqual({
      status: 413,
      body: expect.objectContaining({ code: 'ENDLESS_DATA' }) as object,
    });
    await eventually(
      'the partial upload to be removed',
      async () => (await readdir(rig.manager.objects.dir)).length === 0,
    );
  });

  it('installs a revision from history, rolls back, and refuses a commit with nothing on trial', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await client.update({ rolloutId: 'r1', revision: '1.0' });
    await phasesUntil('committed', 'r1');
    await rig.release('2.0', randomArtifacts(1));
    await client.update({ rolloutId: 'r2', revision: '2.0' });
    await phasesUntil('committed', 'r2');

    expect(await client.command({ command: 'rollback' })).toMatchObject({ active: { revision: '1.0' } });
    await client.command({ command: 'install', revision: '2.0', rolloutId: 'again-2' });
    await phasesUntil('committed', 'again-2');
    expect((await client.status()).bootControl.active).toMatchObject({
      revision: '2.0',
      rolloutId: 'again-2',
    });
    await expect(client.command({ command: 'commit' })).rejects.toThrow(/no revision is on trial/);
  });

  it('refuses to install a revision whose verification failed', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await client.update({ rolloutId: 'r1', revision: '1.0' });
    await phasesUntil('committed', 'r1');
    const { revision } = await rig.release('2.0', randomArtifacts(1));
    await rig.tamperObject(revision.artifacts[0]!.sha256);
    await client.update({ rolloutId: 'r2', revision: '2.0' });
    expect(await phasesUntil('failed', 'r2')).toEqual(['failed']);

    expect(
      await raw('POST', '/v1/commands', '{"command":"install","revision":"2.0","rolloutId":"r3"}'),
    ).toEqual({
      status: 409,
      body: expect.objectContaining({ code: 'COMMAND_REJECTED' }) as object,
    });
    expect((await client.status()).bootControl.active).toMatchObject({ revision: '1.0', rolloutId: 'r1' });
  });

  it('refuses malformed and oversized requests with their codes, and is readable by its owner only', async () => {
    expect(await raw('POST', '/v1/updates', '{"rolloutId": "r1", "revision": "../x"}')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
    expect(await raw('POST', '/v1/updates', 'x'.repeat(64 * 1024))).toMatchObject({
      status: 413,
      body: { code: 'INPUT_TOO_LARGE' },
    });
    expect(await raw('DELETE', '/v1/everything', '')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
    expect((await stat(socket.path)).mode & 0o777).toBe(0o600);
  });
});

describe('a second agent on the same data directory', () => {
  it('is refused with DATA_DIR_IN_USE, and the first keeps its socket', async () => {
    await expect(startControlSocket(socket.path, rig.manager)).rejects.toThrowWithCode('DATA_DIR_IN_USE');
    expect((await client.status()).installer).toBeDefined();
  });

  it('takes over a socket file left by a crashed agent', async () => {
    await socket.close();
    // What a crash leaves: the socket file of a process killed with SIGKILL, nothing listening on it.
    const crashed = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socket.path)}, () => console.log('up'))`,
    ]);
    await once(crashed.stdout, 'data');
    crashed.kill('SIGKILL');
    await once(crashed, 'exit');
    expect((await stat(socket.path)).isSocket()).toBe(true);
    socket = await startControlSocket(socket.path, rig.manager);
    expect((await new ControlClient(socket.path).status()).installer).toBeDefined();
  });
});
