import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

// `docker compose config` is not available here (docker has no compose plugin on this machine):
// the file is parsed as YAML, anchors and merge keys resolved as compose resolves them, and its
// structure checked. ${VAR} interpolation is left as text.

const COMPOSE_FILE = new URL('../../../deploy/compose/docker-compose.yml', import.meta.url).pathname;
const NATS_NODES = ['nats-1', 'nats-2', 'nats-3'];
const SERVE = ['uproll-1', 'uproll-2'];

const serviceSchema = z.object({
  image: z.string().optional(),
  build: z.object({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
  profiles: z.array(z.string()).optional(),
});
const composeSchema = z.object({
  services: z.record(z.string(), serviceSchema),
  volumes: z.record(z.string(), z.unknown()),
});
type Compose = z.infer<typeof composeSchema>;
type Service = z.infer<typeof serviceSchema>;

let compose: Compose;
beforeAll(async () => {
  compose = parseCompose(await readFile(COMPOSE_FILE, 'utf8'));
});

function parseCompose(text: string): Compose {
  return composeSchema.parse(parse(text, { merge: true, maxAliasCount: 100 }));
}

function service(name: string, from: Compose = compose): Service {
  const found = from.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** The volume (or file) mounted at `target` in a service, from `source:target[:mode]`. */
function mountAt(of: Service, target: string): string | undefined {
  return of.volumes?.map((volume) => volume.split(':')).find(([, at]) => at === target)?.[0];
}

describe('deploy/compose/docker-compose.yml', () => {
  it('runs Temporal on PostgreSQL, started once the database answers', () => {
    const temporal = service('temporal');

    expect(temporal.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(service('postgres').image).toMatch(/^postgres:/);
    expect(mountAt(service('postgres'), '/var/lib/postgresql/data')).toBe('postgres-data');
  });

  it("registers Uproll's search attributes on the namespace before serve starts", () => {
    const setup = JSON.stringify(service('temporal-setup').command);

    expect(setup).toContain('--name UprollDeviceId --type Keyword');
    expect(setup).toContain('--name UprollRolloutId --type Keyword');
    for (const name of SERVE)
      expect(service(name).depends_on?.['temporal-setup']).toEqual({
        condition: 'service_completed_successfully',
      });
  });

  it.each(NATS_NODES)(
    '%s is a nats:2 node with its own config, its own JetStream volume and the shared trust settings',
    (name) => {
      const node = service(name);

      expect(node.image).toMatch(/^nats:2/);
      expect(node.command).toEqual(['-c', `/etc/nats/${name}.conf`]);
      expect(mountAt(node, `/etc/nats/${name}.conf`)).toBe(`./${name}.conf`);
      expect(mountAt(node, '/data')).toBe(`${name}-data`);
      expect(mountAt(node, '/etc/nats/uproll')).toBe('nats-config');
      expect(compose.volumes).toHaveProperty(`${name}-data`);
    },
  );

  it.each(SERVE)('%s runs uproll serve against Temporal and every NATS node, on the shared state', (name) => {
    const serve = service(name);

    expect(serve.build).toEqual({ context: '../..', dockerfile: 'deploy/compose/Dockerfile' });
    expect(serve.command?.[0]).toBe('serve');
    expect(serve.environment).toMatchObject({
      UPROLL_TEMPORAL: 'temporal:7233',
      UPROLL_NATS_CREDS: '/var/lib/uproll/nats/services.creds',
      UPROLL_STATE_DIR: '/var/lib/uproll',
      UPROLL_TEMPORAL_NAMESPACE: 'default',
      UPROLL_NATS_REPLICAS: '3',
    });
    const nats = serve.environment?.['UPROLL_NATS']?.split(',').map((url) => new URL(url).host);
    expect(nats?.sort()).toEqual(NATS_NODES.map((node) => `${node}:4222`));
    expect(mountAt(serve, '/var/lib/uproll')).toBe('uproll-state');
    for (const node of NATS_NODES) expect(serve.depends_on).toHaveProperty(node);
  });

  it('gives the CLI service the same deployment and volumes, for nats init and config', () => {
    const cli = service('uproll');

    expect(cli.profiles).toEqual(['cli']);
    expect(cli.environment?.['UPROLL_NATS']).toBe(service('uproll-1').environment?.['UPROLL_NATS']);
    // `uproll nats config` writes absolute paths: the trust settings are mounted where the nodes see them.
    expect(mountAt(cli, '/etc/nats/uproll')).toBe('nats-config');
    expect(mountAt(cli, '/var/lib/uproll')).toBe('uproll-state');
  });

  describe('when the file is broken', () => {
    it('a serve process that misses a NATS node is seen', async () => {
      const text = (await readFile(COMPOSE_FILE, 'utf8')).replace(',tls://nats-3:4222', '');
      const nats = service('uproll-2', parseCompose(text)).environment?.['UPROLL_NATS']?.split(',');

      expect(nats).toHaveLength(2);
    });

    it('a service without its required settings is refused by the schema', () => {
      expect(() => parseCompose('services:\n  temporal:\n    depends_on: [postgres]\nvolumes: {}\n')).toThrow(
        /depends_on/,
      );
    });
  });
});
