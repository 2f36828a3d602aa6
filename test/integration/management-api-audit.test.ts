import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManagementApi } from '../../cli/commands/api.ts';
import { findFreePort } from '../../services/dev-stack/index.ts';
import { serverLog } from '../../cli/server-log.ts';
import { captureIo } from '../cli-io.ts';
import { keyCli, OFFLINE_ENV, ONLINE_ENV } from '../helpers/key-cli.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// The management API as `uproll api serve` and `uproll serve` run it, on a key store made by
// `uproll keys init`, against the run's real event log: what a call changes is an audit event
// by the subject of the token that made it, as the CLI's commands are by --by.

let h: Harness;
let cli: Awaited<ReturnType<typeof keyCli>>;
let api: Awaited<ReturnType<typeof startManagementApi>>;
beforeAll(async () => {
  h = await startHarness();
  cli = await keyCli();
  expect((await cli.init()).status).toBe(0);
  api = await startManagementApi({
    values: { 'state-dir': cli.stateDir, port: String(await findFreePort()) },
    passphrase: 'online passphrase',
    log: serverLog(captureIo(), 'uproll api', {}),
    eventLog: h.eventLog,
  });
});
afterAll(async () => {
  await api?.close();
  await h?.close();
});

async function tokenFor(subject: string, role: 'release' | 'security') {
  const issued = await cli.run(
    ...['api', 'token', '--role', role, '--subject', subject, '--passphrase-env', ONLINE_ENV],
  );
  expect(issued.status, issued.stderr).toBe(0);
  return issued.stdout.trim();
}

const publish = (token: string, name: string) =>
  fetch(`${api.url}/api/v1/releases`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      artifacts: [
        {
          name,
          contentBase64: Buffer.from(name).toString('base64'),
          hardwareIds: ['rpi4'],
          releaseCounter: 1,
        },
      ],
    }),
  });

/** The Image repository's events on the log made by `by`, as `type artifacts`. */
async function eventsBy(by: string) {
  return (await h.eventLog.read('repository', 'image'))
    .map(({ event }) => event.data as { by?: string; artifacts?: string[] })
    .filter((data) => data.by === by)
    .map((data) => data.artifacts);
}

describe('when a release is published through the management API', () => {
  it('the event log has it, by the subject of the token that published it', async () => {
    const alice = uniqueId('alice');
    const name = `${uniqueId('app')}.bin`;
    const response = await publish(await tokenFor(alice, 'release'), name);
    expect(response.status, await response.clone().text()).toBe(200);

    const logged = (await h.eventLog.read('repository', 'image')).filter(
      ({ event }) => (event.data as { by?: string }).by === alice,
    );
    expect(logged.map(({ event }) => event)).toMatchObject([
      { type: 'repository.release.published', data: { by: alice, artifacts: [name] } },
    ]);
  });

  it('the same release again changes nothing and records nothing', async () => {
    const bob = uniqueId('bob');
    const name = `${uniqueId('app')}.bin`;
    const token = await tokenFor(bob, 'release');
    expect((await publish(token, name)).status).toBe(200);
    expect((await publish(token, name)).status).toBe(200);
    expect(await eventsBy(bob)).toEqual([[name]]);
  });

  it('a call refused for its role records no change', async () => {
    const carol = uniqueId('carol');
    expect((await publish(await tokenFor(carol, 'security'), `${uniqueId('app')}.bin`)).status).toBe(403);
    expect(await eventsBy(carol)).toEqual([]);
  });
});

describe('when a caller without a token calls the API 10,000 times', () => {
  it('the event log gains a bounded number of events, which count every refused call', async () => {
    const refusedCalls = async () =>
      (await h.eventLog.read('api', 'management'))
        .map(({ event }) => event)
        .filter((event) => event.type === 'api.call.refused');
    const before = (await refusedCalls()).length;
    const flooded = await startManagementApi({
      values: { 'state-dir': cli.stateDir, port: String(await findFreePort()) },
      passphrase: 'online passphrase',
      log: serverLog(captureIo(), 'uproll api', {}),
      eventLog: h.eventLog,
    });
    const statuses = new Map<number, number>();
    const started = performance.now();
    let left = 10_000;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (left-- > 0) {
          const response = await fetch(`${flooded.url}/api/v1/releases`, { method: 'POST', body: '{}' });
          await response.body?.cancel();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    await flooded.close(); // tells what was counted and not told yet

    expect(statuses).toEqual(new Map([[401, 10_000]]));
    const added = (await refusedCalls()).slice(before);
    // The first refusal at once, then one event a minute at most, and the rest when the API closes.
    expect(added.length).toBeLessThanOrEqual(2 + Math.floor(elapsedMs / 60_000));
    const counted = added
      .map((event) => event.data as { path: string; code: string; count: number })
      .filter((data) => data.path === '/api/v1/releases' && data.code === 'UNAUTHORIZED');
    expect(counted.reduce((sum, data) => sum + data.count, 0)).toBe(10_000);
  }, 180_000); // 10,000 HTTP calls on a loaded two-core machine
});

describe('what a security team sees', () => {
  const get = async (path: string, token: string, init: RequestInit = {}) => {
    const response = await fetch(`${api.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('every signature of its keys, newest first, a page at a time', async () => {
    const token = await tokenFor('sec-audit', 'security');
    expect((await publish(await tokenFor('rm-audit', 'release'), uniqueId('audited'))).status).toBe(200);
    const all = await get('/keys/audit?limit=1000', token);
    const signatures = all.body['signatures'] as { at: string; role: string; keyId: string }[];
    expect(signatures.length).toBe(all.body['total']);
    // The release just published: timestamp signed last, over snapshot and releases.
    expect(signatures.slice(0, 3).map((s) => s.role)).toEqual(['timestamp', 'snapshot', 'releases']);
    const ats = signatures.map((s) => s.at);
    expect(ats).toEqual([...ats].sort().reverse());
    const first = await get('/keys/audit?limit=1', token);
    expect(first.body).toMatchObject({ signatures: [signatures[0]], next: 1 });
    expect((await get('/keys/audit?limit=1&offset=1', token)).body['signatures']).toEqual([signatures[1]]);
  });

  it("each repository's current root, with its roles' keys and thresholds", async () => {
    const roots = (await get('/roots', await tokenFor('sec-roots', 'security'))).body as unknown as {
      repository: string;
      version: number;
      daysLeft: number;
      roles: Record<string, { threshold: number; keyIds: string[] }>;
    }[];
    expect(roots.map((r) => [r.repository, r.version])).toEqual([
      ['image', 1],
      ['director', 1],
    ]);
    const imageRoot = (await cli.metadata('1.root.json')) as { roles: Record<string, { keyids: string[] }> };
    expect(roots[0]!.roles['root']!.keyIds).toEqual(imageRoot.roles['root']!.keyids);
    expect(roots.every((r) => r.daysLeft > 30)).toBe(true);
  });

  it('how far a root ceremony is: no signature yet, then enough to publish', async () => {
    const token = await tokenFor('sec-ceremony', 'security');
    const proposal = join(cli.stateDir, 'root-2.json');
    expect((await cli.run('keys', 'root', 'propose', '--out', proposal)).status).toBe(0);
    const status = async () =>
      get('/roots/image/proposal-status', token, { method: 'POST', body: await readFile(proposal, 'utf8') });
    expect((await status()).body).toMatchObject({
      version: 2,
      byCurrentRoot: { have: 0 },
      complete: false,
    });
    const roots = (await cli.keys()).filter((k) => k.role === 'root' && k.repository === 'image');
    for (const root of roots)
      expect(
        (
          await cli.run(
            'keys',
            'root',
            'sign',
            proposal,
            '--key',
            root.keyId,
            '--passphrase-env',
            OFFLINE_ENV,
          )
        ).status,
      ).toBe(0);
    expect((await status()).body).toMatchObject({ version: 2, complete: true });
    // Not a root at all: refused, naming what is wrong, and nothing was published.
    expect(
      await get('/roots/image/proposal-status', token, { method: 'POST', body: '{"signed":{}}' }),
    ).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
    expect(await get('/roots/nowhere/proposal-status', token, { method: 'POST', body: '{}' })).toMatchObject({
      status: 400,
    });
    expect((await cli.metadata('root.json')).version).toBe(1);
  });
});
