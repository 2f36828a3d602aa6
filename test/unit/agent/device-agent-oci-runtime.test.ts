import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeviceAgent } from '../../../agent/index.ts';
import { startAgentRig } from '../../helpers/agent-rig.ts';

let rig: Awaited<ReturnType<typeof startAgentRig>>;
let dataDir: string;
beforeAll(async () => {
  rig = await startAgentRig();
  dataDir = await mkdtemp(join(tmpdir(), 'uproll-oci-runtime-'));
});
afterAll(async () => {
  await rig?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the OCI runtime a device agent runs its apps with', () => {
  it('is the command its options name (a config file’s ociRuntime)', async () => {
    const agent = await startDeviceAgent({
      identity: rig.identity,
      dataDir,
      clock: () => new Date(),
      withoutCloud: true,
      ociRuntime: ['unshare', '-m', 'crun'],
    });
    try {
      expect(agent.updates.apps.runc.command).toEqual(['unshare', '-m', 'crun']);
    } finally {
      await agent.stop();
    }
  });
});
