import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentIdentity } from '../../agent/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckSchema, reportSubject, subjects, type Telemetry } from '../../core/index.ts';
import { connectToNats, REPORTS_STREAM, TELEMETRY_STREAM } from '../../services/nats/index.ts';
import { startDeviceUpdate } from '../../services/temporal/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { storedMessages } from '../helpers/stored-messages.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Finding 1 of issue 17: JetStream de-duplicates Nats-Msg-Id per stream, and every device writes to
// the same streams. An attacker holding device A's credentials publishes on A's own subjects (all
// its permissions allow) with the ids device B would use, before B reports anything.

const taskQueue = uniqueId('message-identity');
let h: Harness;
let attacker: NatsConnection;
const deviceA = uniqueId('msgid-a');
const deviceB = uniqueId('msgid-b');

beforeAll(async () => {
  h = await startHarness({ taskQueue });
  await h.startWorker();
  const credentialsA = await h.provisionDevice(deviceA);
  attacker = await connectToNats({
    servers: h.addresses.nats,
    tls: h.natsTls,
    nkeySeed: credentialsA.credentials,
    name: deviceA,
    inboxPrefix: subjects.deviceInboxPrefix(deviceA),
  });
});
afterAll(async () => {
  await attacker?.close();
  await h?.close();
});

describe("when a device takes another device's message ids first", () => {
  it("the other device's telemetry and reports are all stored and its update commits", async () => {
    const js = jetstream(attacker);
    for (let seq = 1; seq <= 200; seq++) {
      const msgID = `${deviceB}/${seq}`;
      await js.publish(subjects.telemetry(deviceA), '{}', { msgID });
      await js.publish(reportSubject(deviceA), '{}', { msgID });
    }

    await h.startAgent(deviceB, {
      healthCheck: healthCheckSchema.parse({ command: ['sh', '-c', 'test -s rootfs.img'] }),
    });
    const revision = uniqueId('rev');
    await h.release(revision, [{ path: 'rootfs.img', bytes: randomBytes(4096) }], [deviceB]);
    const handle = await startDeviceUpdate(
      h.client,
      { deviceId: deviceB, command: { rolloutId: uniqueId('r'), revision } },
      { taskQueue },
    );

    // Every step B reported is in the stream (on main: none of them, each acked as A's duplicate).
    const phases = await eventually("B's committed step stored in JetStream", async () => {
      const stored = (await storedMessages(
        h.nc,
        TELEMETRY_STREAM,
        subjects.telemetry(deviceB),
      )) as Telemetry[];
      const seen = stored.map((t) => t.phase);
      return seen.includes('committed') && seen;
    });
    expect(new Set(phases)).toEqual(new Set(['downloaded', 'verified', 'installed', 'healthy', 'committed']));
    // Committing takes B's signed version report: the Director had it from the stream.
    expect(await handle.result()).toMatchObject({ outcome: 'committed' });
    expect(await storedMessages(h.nc, REPORTS_STREAM, reportSubject(deviceB))).not.toHaveLength(0);
  });

  /**
   * Updates the device once, then starts it again with an empty data directory (`identity`:
   * the same one; else it is provisioned again) and updates it again: both must commit.
   */
  async function updateAcrossAWipe(deviceId: string, identity?: AgentIdentity) {
    const healthCheck = healthCheckSchema.parse({ command: ['sh', '-c', 'test -s rootfs.img'] });
    const updateOnce = async () => {
      const revision = uniqueId('rev');
      await h.release(revision, [{ path: 'rootfs.img', bytes: randomBytes(4096) }], [deviceId]);
      const handle = await startDeviceUpdate(
        h.client,
        { deviceId, command: { rolloutId: uniqueId('r'), revision } },
        { taskQueue },
      );
      return handle.result();
    };
    const first = await h.startAgent(deviceId, { healthCheck, ...(identity ? { identity } : {}) });
    expect(await updateOnce()).toMatchObject({ outcome: 'committed' });
    await first.stop();
    await rm(first.dataDir, { recursive: true, force: true });

    await h.startAgent(deviceId, { healthCheck, ...(identity ? { identity } : {}) });
    expect(await updateOnce()).toMatchObject({ outcome: 'committed' });
  }

  it('a device provisioned again with an empty data directory has its new reports stored, under ids it used before', async () => {
    // Its report journal starts afresh: with message ids of device/sequence, JetStream acked
    // the new reports as duplicates of the old ones for ten minutes (a second `uproll demo` hung).
    await updateAcrossAWipe(uniqueId('msgid-c'));
  });

  it('a device whose data directory was wiped, with the same identity, still has its signed reports accepted', async () => {
    // Its journal numbered reports from 1 again: every manifest was refused as REPLAYED_REPORT
    // (the Director had accepted higher counters) and each update failed VERSION_REPORT_MISSING.
    const deviceId = uniqueId('msgid-d');
    await updateAcrossAWipe(deviceId, await h.enroll(deviceId));
  });
});
