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
