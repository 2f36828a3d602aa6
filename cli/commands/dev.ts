import { resolve } from 'node:path';
import {
  localStackStatus,
  startLocalStack,
  stopLocalStack,
  type StackStatus,
} from '../../services/dev-stack/index.ts';
import { portOption, stateDirOf, UsageError, type Command, type Io } from '../command.ts';
import { systemClock } from '../system-clock.ts';
import { tlsHostsOf } from '../server-tls.ts';
import { fleetCaPath, keystoreDir, locationOptions } from '../locations.ts';

function printStatus(status: StackStatus, io: Io): void {
  const line = (name: string, c: { running: boolean; pid?: number; address: string }) =>
    `  ${name.padEnd(10)} ${c.running ? `running  pid ${String(c.pid).padEnd(8)}` : 'stopped'.padEnd(22)} ${c.address}`;
  io.out(
    [
      `local stack in ${resolve(status.stateDir)}`,
      line('temporal', status.temporal),
      ...(status.nats.nodes
        ? status.nats.nodes.flatMap((node, i) => [
            line(`nats ${i}`, node),
            ...(node.running ? [`  ${''.padEnd(10)} monitoring ${node.monitor}`] : []),
          ])
        : [
            line('nats', status.nats),
            ...(status.nats.running ? [`  ${''.padEnd(10)} monitoring ${status.nats.monitor}`] : []),
          ]),
    ].join('\n'),
  );
}

function clusterSizeOf(value: string): number {
  if (!/^\d{1,2}$/.test(value))
    throw new UsageError(`--nats-cluster takes a node count (3 or 5), not ${value}`);
  return Number(value);
}

export const devUp: Command = {
  name: 'dev up',
  summary: 'Start the local stack: a Temporal dev server and nats-server with JetStream.',
  usage:
    'uproll dev up [--temporal-port N] [--nats-port N] [--nats-monitor-port N] [--nats-cluster 3] [--tls-host NAME,...] [--insecure | --mtls] [--json]',
  details:
    'State (Temporal database, JetStream files, NATS users) lives in the state directory and survives\n' +
    '`down` and `up`. Ports chosen at the first `up` are kept unless given again.\n' +
    'NATS accepts TLS only, with a certificate for 127.0.0.1, ::1, localhost and the --tls-host names\n' +
    "from the deployment's server CA (<state-dir>/tls/ca.crt, in every device bundle); --insecure, for\n" +
    'development only, keeps it plain text (both kept until given again). Monitoring is on 127.0.0.1.\n' +
    '--mtls (kept once given) has NATS ask every client for a certificate: devices present theirs, from\n' +
    'the fleet CA of `keys init`, and bundles provisioned from then on say so.\n' +
    '--nats-cluster 3 (or 5) starts a JetStream cluster instead of one nats-server: node i on the NATS\n' +
    'and monitoring ports + i, routes on 127.0.0.1:16222 + i, files under <state-dir>/nats/node-i (node 0\n' +
    'in <state-dir>/nats). Streams and buckets then keep a copy on every node, so the stack survives a\n' +
    "node's loss; clients and devices get every node's address. Kept once chosen.",
  options: {
    'temporal-port': { type: 'string', description: 'Temporal frontend gRPC port (default 17233)' },
    'nats-port': { type: 'string', description: 'NATS client port (default 14222)' },
    'nats-monitor-port': {
      type: 'string',
      description: 'NATS monitoring HTTP port, on 127.0.0.1 (default 18222)',
    },
    'tls-host': {
      type: 'string',
      description: 'host names devices reach NATS by, comma-separated, for its certificate',
    },
    'nats-cluster': {
      type: 'string',
      description: 'start a local JetStream cluster of this many nats-servers (3 or 5)',
    },
    insecure: { type: 'boolean', description: 'plain-text NATS, for development only' },
    mtls: {
      type: 'boolean',
      description:
        'NATS asks every client for a certificate: devices theirs from the fleet CA (keys init first)',
    },
    keystore: locationOptions.keystore,
  },
  async run({ values }, io) {
    const ports = Object.fromEntries(
      Object.entries({
        temporal: portOption(values, 'temporal-port'),
        nats: portOption(values, 'nats-port'),
        natsMonitor: portOption(values, 'nats-monitor-port'),
      }).filter(([, port]) => port !== undefined),
    );
    const status = await startLocalStack({
      clock: systemClock,
      stateDir: stateDirOf(values),
      ports,
      ...(values['insecure'] === true ? { insecure: true } : {}),
      ...(typeof values['nats-cluster'] === 'string'
        ? { natsCluster: clusterSizeOf(values['nats-cluster']) }
        : {}),
      ...(values['mtls'] === true ? { mtls: { fleetCaFile: fleetCaPath(keystoreDir(values)) } } : {}),
      ...(typeof values['tls-host'] === 'string' ? { tlsHosts: tlsHostsOf(values) } : {}),
      onProgress: values.json ? undefined : (message) => io.err(message),
    });
    if (values.json) io.out(JSON.stringify(status));
    else printStatus(status, io);
    return 0;
  },
};

export const devDown: Command = {
  name: 'dev down',
  summary: 'Stop the processes `uproll dev up` started (by their pid files); state is kept.',
  usage: 'uproll dev down [--json]',
  options: {},
  async run({ values }, io) {
    const stopped = await stopLocalStack(stateDirOf(values));
    if (values.json) io.out(JSON.stringify({ stopped }));
    else {
      const names = Object.entries(stopped)
        .filter(([, was]) => was)
        .map(([name]) => name);
      io.out(names.length > 0 ? `stopped ${names.join(' and ')}` : 'nothing was running');
    }
    return 0;
  },
};

export const devStatus: Command = {
  name: 'dev status',
  summary: 'Show whether the local stack runs, with pids and addresses.',
  usage: 'uproll dev status [--json]',
  details: 'Exits 0 when both servers run, 3 otherwise.',
  options: {},
  async run({ values }, io) {
    const status = await localStackStatus(stateDirOf(values));
    if (values.json) io.out(JSON.stringify(status));
    else printStatus(status, io);
    return status.temporal.running && status.nats.running ? 0 : 3;
  },
};
