import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accountOf,
  initNatsIdentity,
  natsServerAuthOf,
  renderNatsAuthInclude,
  renderNatsServerConfig,
  systemAccountOf,
  type NatsIdentity,
} from '../../../services/nats-auth/index.ts';

let identity: NatsIdentity;
beforeAll(async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'uproll-nats-config-'));
  ({ identity } = await initNatsIdentity(stateDir, { clock: () => new Date() }));
});

const render = (options: Partial<Parameters<typeof renderNatsServerConfig>[0]> = {}) =>
  renderNatsServerConfig({
    serverName: 'test',
    host: '127.0.0.1',
    port: 4222,
    monitorPort: 8222,
    storeDir: '/tmp/store',
    resolverDir: '/tmp/resolver',
    auth: natsServerAuthOf(identity),
    ...options,
  });

describe('nats-server configuration', () => {
  it('enables JetStream and trusts the operator, with the system account and the accounts preloaded', () => {
    const config = JSON.parse(render()) as Record<string, unknown>;
    expect(config).toMatchObject({
      jetstream: { store_dir: '/tmp/store' },
      operator: identity.operatorJwt,
      system_account: systemAccountOf(identity),
      resolver: { type: 'full', dir: '/tmp/resolver', allow_delete: false },
      resolver_preload: {
        [systemAccountOf(identity)]: identity.systemAccountJwt,
        [accountOf(identity)]: identity.accountJwt,
      },
    });
  });

  it('lists no users: devices and services are signed users the server never needs to be told about', () => {
    expect(render()).not.toMatch(/"(users|nkey|accounts)"/);
  });

  it('renders the same settings as an include for an operator’s own configuration', () => {
    const include = renderNatsAuthInclude(natsServerAuthOf(identity), '/tmp/resolver');
    expect(include).toContain(`operator: ${JSON.stringify(identity.operatorJwt)}\n`);
    expect(include).toContain(`system_account: "${systemAccountOf(identity)}"\n`);
    expect(include).toMatch(/^resolver: \{\n {2}"type": "full"/m);
    expect(include).toMatch(/^resolver_preload: \{/m);
  });

  it('binds monitoring to loopback even when clients connect on every address: its pages name each device', () => {
    const config = JSON.parse(render({ host: '0.0.0.0' })) as Record<string, unknown>;
    expect(config).toMatchObject({ host: '0.0.0.0', http: '127.0.0.1:8222' });
    expect(JSON.parse(render({ monitorPort: undefined }))).not.toHaveProperty('http');
  });

  it('asks for TLS on client connections when given a certificate, client certificates only for mTLS', () => {
    const tls = { certFile: '/t/server.crt', keyFile: '/t/server.key', caFile: '/t/ca.crt' };
    expect(JSON.parse(render({ tls }))).toMatchObject({
      tls: { cert_file: tls.certFile, key_file: tls.keyFile, ca_file: tls.caFile, verify: false },
    });
    expect(JSON.parse(render({ tls: { ...tls, verifyClients: true } }))).toMatchObject({
      tls: { verify: true },
    });
    expect(JSON.parse(render())).not.toHaveProperty('tls');
  });

  it('never contains a seed', () => {
    for (const text of [render(), renderNatsAuthInclude(natsServerAuthOf(identity), '/r')])
      for (const seed of [
        identity.operatorSeed,
        identity.systemSeed,
        identity.accountSeed,
        identity.signingKeySeed,
      ])
        expect(text).not.toContain(seed);
  });
});
