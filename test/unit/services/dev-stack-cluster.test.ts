import { describe, expect, it } from 'vitest';
import { natsReplicasOf, stackAddresses, type StackSettings } from '../../../services/dev-stack/index.ts';

// A local stack of one nats-server, or a cluster (`dev up --nats-cluster 3`): clients get
// every node's address, and streams a copy on every node.

const single: StackSettings = {
  host: '127.0.0.1',
  namespace: 'default',
  ports: { temporal: 17233, nats: 14222, natsMonitor: 18222 },
  tls: true,
  mtls: false,
  tlsHosts: [],
};
const cluster: StackSettings = {
  ...single,
  natsCluster: [
    { nats: 14222, monitor: 18222, route: 16222 },
    { nats: 14223, monitor: 18223, route: 16223 },
    { nats: 14224, monitor: 18224, route: 16224 },
  ],
};

describe('the local NATS of a stack', () => {
  it('is one address and one copy for a single server', () => {
    expect(stackAddresses(single).nats).toBe('127.0.0.1:14222');
    expect(natsReplicasOf(single)).toBe(1);
  });

  it("is every node's address, comma-separated, and a copy per node for a cluster", () => {
    expect(stackAddresses(cluster).nats).toBe('127.0.0.1:14222,127.0.0.1:14223,127.0.0.1:14224');
    expect(natsReplicasOf(cluster)).toBe(3);
  });
});
