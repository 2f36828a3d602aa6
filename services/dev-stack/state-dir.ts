import { join } from 'node:path';

/** Where the local stack keeps everything; survives `down` / `up`. */
export function stackPaths(stateDir: string) {
  const nats = join(stateDir, 'nats');
  const temporal = join(stateDir, 'temporal');
  return {
    stateDir,
    settings: join(stateDir, 'stack.json'),
    temporal: {
      dir: temporal,
      db: join(temporal, 'temporal.db'),
      pid: join(temporal, 'temporal.pid'),
      log: join(temporal, 'temporal.log'),
    },
    nats: {
      dir: nats,
      config: join(nats, 'nats.conf'),
      pid: join(nats, 'nats.pid'),
      log: join(nats, 'nats.log'),
      store: join(nats, 'store'),
      /** The account JWTs the server was sent (its `full` resolver). */
      resolver: join(nats, 'resolver'),
    },
  };
}

export type StackPaths = ReturnType<typeof stackPaths>;

/** Where node `index` of a local NATS cluster keeps its files: node 0 where a single server does. */
export function natsNodePaths(stateDir: string, index: number): StackPaths['nats'] {
  const single = stackPaths(stateDir).nats;
  if (index === 0) return single;
  const dir = join(single.dir, `node-${index}`);
  return {
    dir,
    config: join(dir, 'nats.conf'),
    pid: join(dir, 'nats.pid'),
    log: join(dir, 'nats.log'),
    store: join(dir, 'store'),
    resolver: join(dir, 'resolver'),
  };
}
