import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlClient, startControlSocket, type ControlSocket } from '../../../agent/index.ts';
import type { CommandReply } from '../../../core/index.ts';
import { randomArtifacts, startAgentRig, type AgentRig } from '../../helpers/agent-rig.ts';

// The control socket serves its clients concurrently: the CLI, and the cloud side (which turns
// NATS commands into socket requests), may each send a command at the same moment.
let rig: AgentRig;
let socket: ControlSocket;
let cli: ControlClient;
let cloudSide: ControlClient;

beforeEach(async () => {
  rig = await startAgentRig();
  socket = await startControlSocket(join(rig.dataDir, 'control.sock'), rig.manager);
  cli = new ControlClient(socket.path);
  cloudSide = new ControlClient(socket.path);
});
afterEach(async () => {
  await socket.close();
  await rig.close();
});

const accepted = (replies: CommandReply[]) => replies.filter((r) => r.accepted && !r.duplicate);
const codesOf = (replies: CommandReply[]) => replies.map((r) => (r.accepted ? null : r.error.code));

/** Outcomes in the device's history, and the rollouts that reported an outcome, once the manager is idle. */
async function settled() {
  await rig.manager.idle();
  return {
    history: (await rig.manager.history.entries()).map((e) => [e.rolloutId, e.outcome]),
    installed: (await rig.manager.journal.after(0))
      .filter((e) => e.kind === 'telemetry' && (e.body as { phase: string }).phase === 'installed')
      .map((e) => (e.body as { rolloutId: string }).rolloutId),
  };
}

describe('when two commands arrive at the same moment', () => {
  it('two updates of different rollouts: one runs, the other is refused BUSY', async () => {
    await rig.release('1.0', randomArtifacts(2));
    const replies = await Promise.all([
      cli.update({ rolloutId: 'from-cli', revision: '1.0' }),
      cloudSide.update({ rolloutId: 'from-cloud', revision: '1.0' }),
    ]);
    expect(accepted(replies)).toHaveLength(1);
    expect(codesOf(replies)).toContain('BUSY');
    const winner = replies[0].accepted ? 'from-cli' : 'from-cloud';
    expect(await settled()).toEqual({ history: [[winner, 'committed']], installed: [winner] });
  });

  it('the same update twice: it runs once, and the second is told it is a duplicate', async () => {
    await rig.release('1.0', randomArtifacts(1));
    const replies = await Promise.all([
      cli.update({ rolloutId: 'r1', revision: '1.0' }),
      cloudSide.update({ rolloutId: 'r1', revision: '1.0' }),
    ]);
    expect(replies).toEqual(
      expect.arrayContaining([
        { accepted: true, duplicate: false },
        { accepted: true, duplicate: true },
      ]),
    );
    expect(await settled()).toEqual({ history: [['r1', 'committed']], installed: ['r1'] });
    expect(rig.proxy.stats.objectRequests).toHaveLength(1);
  });

  it('an update and an install from history: only one of them runs', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0', 'first');
    await rig.release('2.0', randomArtifacts(1));
    const [update, install] = await Promise.allSettled([
      cloudSide.update({ rolloutId: 'to-2', revision: '2.0' }),
      cli.command({ command: 'install', revision: '1.0', rolloutId: 'again-1' }),
    ]);
    // One is accepted; the other is refused (BUSY over /v1/updates, 409 over /v1/commands).
    const ran = [
      ...(update.status === 'fulfilled' && update.value.accepted ? ['to-2'] : []),
      ...(install.status === 'fulfilled' ? ['again-1'] : []),
    ];
    expect(ran).toHaveLength(1);
    if (update.status === 'fulfilled' && !update.value.accepted) expect(update.value.error.code).toBe('BUSY');
    if (install.status === 'rejected') expect(String(install.reason)).toMatch(/still running/);
    expect(await settled()).toEqual({
      history: [
        ['first', 'committed'],
        [ran[0], 'committed'],
      ],
      installed: ['first', ran[0]],
    });
  });

  it('an update and a rollback: only one of them happens', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0', 'first');
    await rig.release('2.0', randomArtifacts(1));
    await rig.update('2.0', 'second');
    await rig.release('3.0', randomArtifacts(1));
    const [update, rollback] = await Promise.allSettled([
      cloudSide.update({ rolloutId: 'third', revision: '3.0' }),
      cli.command({ command: 'rollback' }),
    ]);
    const updated = update.status === 'fulfilled' && update.value.accepted;
    const rolledBack = rollback.status === 'fulfilled';
    expect([updated, rolledBack].filter(Boolean)).toHaveLength(1);
    if (!updated) expect(update).toMatchObject({ value: { error: { code: 'BUSY' } } });
    if (!rolledBack) expect(String(rollback.reason)).toMatch(/update of rollout third is still running/);
    expect((await settled()).history).toEqual([
      ['first', 'committed'],
      ['second', updated ? 'committed' : 'rolled_back'],
      ...(updated ? [['third', 'committed']] : []),
    ]);
  });
});
