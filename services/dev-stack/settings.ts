import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseJson, UprollError } from '../../core/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { stackPaths } from './state-dir.ts';

/** Uproll's own defaults, apart from the standard ports a developer's own Temporal or NATS may hold. */
export const DEFAULT_PORTS = { temporal: 17233, nats: 14222, natsMonitor: 18222 } as const;

const portSchema = z.int().min(1).max(65535);

/** How many nats-servers a local cluster may have: JetStream needs a majority, so an odd count. */
export const NATS_CLUSTER_SIZES = [3, 5] as const;

/** One node of a local NATS cluster: its client, monitoring and route ports. */
const natsNodeSchema = z.object({ nats: portSchema, monitor: portSchema, route: portSchema });
export type NatsNodePorts = z.infer<typeof natsNodeSchema>;
const settingsSchema = z.object({
  host: z.string().min(1),
  namespace: z.string().min(1),
  ports: z.object({ temporal: portSchema, nats: portSchema, natsMonitor: portSchema }),
  /** NATS clients over TLS only (the default); false only when `dev up --insecure` asked for plain text. */
  tls: z.boolean().default(true),
  /** Every NATS client presents a certificate too: devices theirs from the fleet CA (`dev up --mtls`). */
  mtls: z.boolean().default(false),
  /** Names besides the loopback ones and `host` that the NATS certificate is issued for. */
  tlsHosts: z.array(z.string().min(1).max(253)).max(64).default([]),
  /**
   * A local JetStream cluster (`dev up --nats-cluster N`): every node's ports,
   * node 0's equal to `ports.nats` and `ports.natsMonitor`. Absent: one nats-server.
   */
  natsCluster: z
    .array(natsNodeSchema)
    .refine((nodes) => (NATS_CLUSTER_SIZES as readonly number[]).includes(nodes.length))
    .optional(),
});

/** Where the local stack listens; chosen at the first `up` and kept. */
export type StackSettings = z.infer<typeof settingsSchema>;

/** The nats-servers of the stack: one, or every node of its cluster. */
export function natsNodesOf(settings: StackSettings): NatsNodePorts[] {
  return (
    settings.natsCluster ?? [{ nats: settings.ports.nats, monitor: settings.ports.natsMonitor, route: 0 }]
  );
}

/** How many copies of each stream and bucket the stack's JetStream keeps: one per node. */
export function natsReplicasOf(settings: StackSettings): number {
  return natsNodesOf(settings).length;
}

/** The addresses clients use to reach the stack; `nats` lists every node, comma-separated. */
export function stackAddresses(settings: StackSettings) {
  return {
    temporal: `${settings.host}:${settings.ports.temporal}`,
    nats: natsNodesOf(settings)
      .map((node) => `${settings.host}:${node.nats}`)
      .join(','),
    // Monitoring is on loopback only, wherever clients connect from.
    natsMonitor: `http://127.0.0.1:${settings.ports.natsMonitor}`,
  };
}

export async function readSettings(stateDir: string): Promise<StackSettings | undefined> {
  const text = await readFile(stackPaths(stateDir).settings).catch(() => undefined);
  if (text === undefined) return undefined;
  return parseJson(settingsSchema, text, { maxBytes: 64 * 1024, what: stackPaths(stateDir).settings });
}

/** Settings as written: `tls` defaults to on, `tlsHosts` to none. */
export async function writeSettings(
  stateDir: string,
  settings: z.input<typeof settingsSchema>,
): Promise<void> {
  await writeFileAtomic(stackPaths(stateDir).settings, `${JSON.stringify(settings, null, 2)}\n`);
}

/** Settings of a stack that was set up, or STACK_NOT_RUNNING naming the command to run. */
export async function requireSettings(stateDir: string): Promise<StackSettings> {
  const settings = await readSettings(stateDir);
  if (!settings) {
    throw new UprollError(
      'STACK_NOT_RUNNING',
      `no local stack in ${stateDir}: run \`uproll dev up\` first, or name your deployment (--temporal, --nats and --nats-seed-file, or $UPROLL_TEMPORAL, $UPROLL_NATS and $UPROLL_NATS_CREDS)`,
    );
  }
  return settings;
}
