import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ControlClient,
  startControlSocket,
  UpdateManager,
  type ControlSocket,
} from '../../../agent/index.ts';
import type { Telemetry, UpdateCommand } from '../../../core/index.ts';

const image = randomBytes(64 * 1024);
let server: Server;
let socket: ControlSocket;
let client: ControlClient;
let command: UpdateCommand;

beforeEach(async () => {
  server = createServer((_request, response) => response.writeHead(200).end(image));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  command = {
    rolloutId: 'r1',
    revision: '2',
    artifact: {
      name: 'rootfs.img',
      url: `http://127.0.0.1:${port}/rootfs.img`,
      sha256: createHash('sha256').update(image).digest('hex'),
      length: image.byteLength,
    },
  };
  const dataDir = await mkdtemp(join(tmpdir(), 'uproll-socket-'));
  let publish: (t: Telemetry) => void = () => {};
  const manager = new UpdateManager({ deviceId: 'd1', dataDir, report: (t) => Promise.resolve(publish(t)) });
  socket = await startControlSocket(join(dataDir, 'control.sock'), manager);
  publish = (t) => socket.publish(t);
  client = new ControlClient(socket.path);
});
afterEach(async () => {
  await socket.close();
  server.closeAllConnections();
  server.close();
});

/** The phases of one rollout's update as the events report them, until `last`. */
async function phasesUntil(last: string, rolloutId = 'r1'): Promise<string[]> {
  const phases: string[] = [];
  const events = client.events(0, (t) => {
    if (t.rolloutId !== rolloutId) return Promise.resolve();
    phases.push(t.phase);
    if (t.phase === last) events.close();
    return Promise.resolve();
  });
  await events.done;
  return phases;
}

describe('the local control socket', () => {
  it('drives a full update without NATS: stage, progress events, status and history', async () => {
    expect(await client.update(command)).toEqual({ accepted: true, duplicate: false });
    expect(await phasesUntil('committed')).toEqual(['downloaded', 'installed', 'committed']);
    expect((await client.status()).bootControl).toMatchObject({ active: 'b', trial: false });
    expect(await client.history()).toMatchObject([{ rolloutId: 'r1', phase: 'committed' }]);
  });

  it('replays the events a late subscriber missed', async () => {
    await client.update(command);
    await phasesUntil('committed');
    expect(await phasesUntil('committed')).toEqual(['downloaded', 'installed', 'committed']);
  });

  it('rolls back to the previous revision on command', async () => {
    await client.update(command);
    await phasesUntil('committed');
    expect(await client.update({ ...command, rolloutId: 'r2', revision: '3' })).toMatchObject({
      accepted: true,
    });
    await phasesUntil('committed', 'r2');
    expect(await client.rollback()).toMatchObject({ active: 'b' });
  });

  it('refuses a malformed command with its code, and is readable by its owner only', async () => {
    await expect(
      client.update({ ...command, artifact: { ...command.artifact, sha256: 'nope' } }),
    ).rejects.toThrow(/INVALID_INPUT/);
    expect((await stat(socket.path)).mode & 0o777).toBe(0o600);
  });
});
