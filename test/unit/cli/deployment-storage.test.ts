import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { deploymentSettingsOf } from '../../../cli/deployment-settings.ts';
import { natsReplicasSetting, replicasFor } from '../../../cli/deployment-storage.ts';

// How many copies of each stream and bucket a deployment keeps: named by --nats-replicas or
// $UPROLL_NATS_REPLICAS, else 3 when the server says it is in a cluster, else 1.

const serverIn = (cluster?: string) => ({ info: cluster ? { cluster } : {} }) as unknown as NatsConnection;

afterEach(() => {
  delete process.env['UPROLL_NATS_REPLICAS'];
});

describe('the replica count of a deployment', () => {
  it('is the option, else the environment, else the deployment file', async () => {
    expect((await deploymentSettingsOf({}))['nats-replicas']).toBeUndefined();
    process.env['UPROLL_NATS_REPLICAS'] = '3';
    expect(natsReplicasSetting((await deploymentSettingsOf({}))['nats-replicas'])).toBe(3);
    const fromOption = (await deploymentSettingsOf({ 'nats-replicas': '5' }))['nats-replicas'];
    expect(natsReplicasSetting(fromOption)).toBe(5);
  });

  it.each(['0', '6', '3.5', 'three', '33'])('refuses %j with INVALID_INPUT naming the setting', (value) => {
    expect(() => natsReplicasSetting({ value, label: '--nats-replicas ($UPROLL_NATS_REPLICAS)' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('--nats-replicas') as string,
      }),
    );
  });

  it('defaults to 3 on a clustered server and 1 on a single one, unless named', () => {
    expect(replicasFor(serverIn('uproll'), {})).toBe(3);
    expect(replicasFor(serverIn(), {})).toBe(1);
    expect(replicasFor(serverIn('uproll'), { natsReplicas: 1 })).toBe(1);
  });
});
