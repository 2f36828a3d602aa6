import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManagementApi } from '../../cli/commands/api.ts';
import { findFreePort } from '../../services/dev-stack/index.ts';
import { captureIo } from '../cli-io.ts';
import { keyCli, ONLINE_ENV } from '../helpers/key-cli.ts';
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
    io: captureIo(),
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
      io: captureIo(),
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
