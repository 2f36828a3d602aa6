import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  issueApiToken,
  fleetRoutes,
  startApiServer,
  tagRoutes,
  type ApiChangeEvent,
  type ApiRole,
} from '../../services/api/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { expectMatchesDocument } from '../helpers/api-contract.ts';
import { eventually } from '../helpers/eventually.ts';
import { collectEvents } from '../helpers/sse.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// A release manager runs a rollout over HTTP as `uproll rollout` does:
// its progress, pause, resume and abort, each by the token's subject.
const tokenKeys = generateKeyPairSync('ed25519');
let h: Harness;
let fleet: ProtocolFleet;
let api: { url: string; close(): Promise<void> };
let rolloutId: string;
let revision: string;
/** A release whose health check fails on every device. */
let bad: string;
let devices: string[];
let document: Parameters<typeof expectMatchesDocument>[0];
/** What the calls changed, as the server hands it to the audit trail. */
const changes: ApiChangeEvent[] = [];

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  bad = uniqueId('apibad');
  ({ devices, fleet } = await startFleetOf({
    count: 2,
    prefix: uniqueId('apiro'),
    unhealthy: (_, shown) => shown === bad,
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
  }));
  revision = uniqueId('apirev');
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 2 });
  await h.repos.publish(bad, randomArtifacts(1, 1024), { releaseCounter: 3 });
  const fleetApi = fleetRoutes({
    temporal: h.client,
    now: () => new Date(),
    nc: h.nc,
    eventLog: h.eventLog,
    director: h.repos.director,
    image: h.repos.image,
    taskQueue: h.taskQueue,
  });
  api = await startApiServer({
    ...fleetApi,
    routes: [...fleetApi.routes, ...tagRoutes({ director: h.repos.director })],
    tokenKey: tokenKeys.publicKey,
    now: () => new Date(),
    onChanged: (event) => Promise.resolve(void changes.push(event)),
    checkResponses: true,
  });
  document = (await (await request('GET', '/openapi.json', 'viewer', false)).json()) as typeof document;
  // Both devices run a first revision, which a rollback returns them to.
  await h.rollOutFirstRevision(devices);
  rolloutId = uniqueId('apiro');
  // The canary commits, then the rollout soaks for an hour: long enough to be paused and resumed.
  await h.startRollout({
    rolloutId,
    revision,
    target: { devices },
    policy: { canary: 1, waves: { percentages: [100] }, gate: { soakMs: 3_600_000 } },
    startedBy: 'alice@test',
  });
}, 120_000);
afterAll(async () => {
  await api?.close();
  await fleet?.stop();
  await h?.close();
});

/** A call by a person of `role`, its answer checked against the OpenAPI document (unless `check` is false). */
async function request(method: string, path: string, role: ApiRole, check = true, json?: unknown) {
  const token = await issueApiToken({
    subject: `${role}-person`,
    role,
    ttlSeconds: 300,
    key: tokenKeys.privateKey,
    now: new Date(),
  });
  const response = await fetch(`${api.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  if (!check) return response;
  const body: unknown = await response.clone().json();
  expectMatchesDocument(document, {
    method,
    path: `/api/v1${path}`,
    status: response.status,
    contentType: response.headers.get('content-type'),
    body,
  });
  return response;
}

const call = async (method: string, path: string, role: ApiRole = 'release', json?: unknown) => {
  const response = await request(method, path, role, true, json);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('rollouts over the management API', () => {
  it("shows a running rollout's waves and counts to any role", async () => {
    // Its waves are known once it has planned them (an activity, just after the start).
    const shown = await eventually('the rollout with its waves planned', async () => {
      const answer = await call('GET', `/rollouts/${rolloutId}`, 'viewer');
      return (answer.body['waves'] as unknown[] | undefined)?.length === 2 && answer;
    });
    expect(shown).toMatchObject({ status: 200, body: { rolloutId, status: 'running' } });
  });

  it('pauses and resumes it for a release manager, and refuses what does not apply (409)', async () => {
    expect(await call('POST', `/rollouts/${rolloutId}/pause`)).toMatchObject({
      status: 200,
      body: { status: 'paused' },
    });
    expect(await call('POST', `/rollouts/${rolloutId}/pause`)).toMatchObject({
      status: 409,
      body: { code: 'COMMAND_REJECTED' },
    });
    expect(await call('POST', `/rollouts/${rolloutId}/resume`)).toMatchObject({
      status: 200,
      body: { status: 'running' },
    });
  });

  it('lets no viewer or security team change it (403), and it runs on', async () => {
    for (const role of ['viewer', 'security'] as const)
      expect(await call('POST', `/rollouts/${rolloutId}/abort`, role)).toMatchObject({
        status: 403,
        body: { code: 'FORBIDDEN' },
      });
    expect((await call('GET', `/rollouts/${rolloutId}`)).body).toMatchObject({ status: 'running' });
  });

  it('aborts it, lists it with who started it once the projections have its events, and streams it live', async () => {
    const live = collectEvents(await request('GET', '/live?kinds=rollouts', 'viewer', false));
    await eventually('the stream open', () => live.events.some((e) => e.event === 'ready'));
    expect(await call('POST', `/rollouts/${rolloutId}/abort`)).toMatchObject({
      status: 200,
      body: { status: 'aborted' },
    });
    // The rollout appends its end to the event log as it stops; the projections fold what is there.
    const listed = await eventually('the aborted rollout in the list', async () => {
      expect((await runCliInProcess(['events', 'rebuild', '--state-dir', h.stateDir])).status).toBe(0);
      const rows = (await call('GET', '/rollouts?status=aborted', 'viewer')).body as unknown as {
        rolloutId: string;
      }[];
      return rows.find((row) => row.rolloutId === rolloutId);
    });
    expect(listed).toMatchObject({
      status: 'aborted',
      startedBy: 'alice@test',
      revision: expect.any(String) as string,
    });
    // The projections' writes reached the stream as they were stored: no polling.
    await eventually('the aborted rollout on the live stream', () =>
      live.events.some((e) => {
        const view = e.data as { rolloutId?: string; status?: string };
        return e.event === 'rollout' && view.rolloutId === rolloutId && view.status === 'aborted';
      }),
    );
    expect(live.events.every((e) => ['ready', 'rollout', 'ping'].includes(e.event))).toBe(true);
    await live.close();
  });

  it('rolls the ended rollout back once, and shows that rollback with its status', async () => {
    // Once it has ended: a rollout still ending takes the rollback in its own run.
    await h.client.workflow.getHandle(`rollout/${rolloutId}`).result();
    const started = await call('POST', `/rollouts/${rolloutId}/rollback`, 'release', {});
    expect(started).toMatchObject({
      status: 200,
      body: { rolloutId, during: 'after_end', workflowId: `rollback/${rolloutId}`, attempt: 1 },
    });
    // The canary goes back to the revision it ran before; the other device never left it.
    expect(await h.client.workflow.getHandle(`rollback/${rolloutId}`).result()).toMatchObject({
      by: 'release-person',
      counts: { rolled_back: 1 },
    });
    expect((await call('GET', `/rollouts/${rolloutId}`, 'viewer')).body).toMatchObject({
      status: 'rolled_back',
      rollback: { state: 'finished', by: 'release-person', notBack: [] },
    });
    expect(await call('POST', `/rollouts/${rolloutId}/rollback`, 'release', {})).toMatchObject({
      status: 409,
      body: { code: 'ALREADY_ROLLED_BACK' },
    });
    expect(await call('POST', `/rollouts/${rolloutId}/rollback`, 'release', { retry: true })).toMatchObject({
      status: 409,
      body: { code: 'ALREADY_ROLLED_BACK' },
    });
    expect(await call('POST', `/rollouts/${uniqueId('never')}/rollback`, 'release', {})).toMatchObject({
      status: 404,
      body: { code: 'ROLLOUT_NOT_FOUND' },
    });
  });

  it("retries a bad release's failed canary as a new rollout by the caller", async () => {
    const failing = uniqueId('apibad');
    await h.startRollout({
      rolloutId: failing,
      revision: bad,
      target: { devices: [devices[0]!] },
      policy: { canary: 1, waves: { percentages: [100] }, onBreach: 'abort_and_rollback' },
      startedBy: 'alice@test',
    });
    expect(await h.client.workflow.getHandle(`rollout/${failing}`).result()).toMatchObject({
      status: 'rolled_back',
    });
    expect(await call('POST', `/rollouts/${failing}/retry-failed`, 'viewer', {})).toMatchObject({
      status: 403,
    });
    const retryId = uniqueId('apiretry');
    const retried = await call('POST', `/rollouts/${failing}/retry-failed`, 'release', {
      rolloutId: retryId,
      policy: { canary: 1, waves: { percentages: [100] }, onBreach: 'abort_and_rollback' },
    });
    expect(retried).toMatchObject({ status: 200, body: { rolloutId: retryId, retried: [devices[0]] } });
    await h.client.workflow.getHandle(`rollout/${retryId}`).result();
    const retriedStart = (await h.eventLog.read('rollout', retryId)).find(
      (e) => e.event.type === 'rollout.started',
    );
    expect(retriedStart?.event.data).toMatchObject({ by: 'release-person', revision: bad });
    // The aborted rollout above failed no device (the one it did not reach was not tried).
    expect(await call('POST', `/rollouts/${rolloutId}/retry-failed`, 'release', {})).toMatchObject({
      status: 409,
      body: { code: 'COMMAND_REJECTED' },
    });
  });

  it('shows the fleet at a glance: devices, their revisions and phases', async () => {
    // The projections rebuilt above hold the canary's committed update (and other files' devices).
    const fleet = await call('GET', '/fleet', 'viewer');
    expect(fleet.status).toBe(200);
    expect(fleet.body['devices']).toBeGreaterThanOrEqual(1);
    expect((fleet.body['phases'] as Record<string, number>)['committed']).toBeGreaterThanOrEqual(1);
  });

  it("reads the rollout's events a page at a time, with who did what", async () => {
    const all = await call('GET', `/events?aggregate=rollout&id=${rolloutId}`, 'viewer');
    const events = all.body['events'] as {
      sequence: number;
      event: { type: string; data: { by?: string } };
    }[];
    expect(events.map((e) => e.event.type)).toContain('rollout.started');
    expect(events.find((e) => e.event.type === 'rollout.paused')?.event.data.by).toBe('release-person');
    expect(all.body['next']).toBeNull();

    const first = await call('GET', `/events?aggregate=rollout&id=${rolloutId}&limit=1`, 'viewer');
    expect(first.body['events']).toEqual([events[0]]);
    const second = await call(
      'GET',
      `/events?aggregate=rollout&id=${rolloutId}&limit=1&from=${String(first.body['next'])}`,
      'viewer',
    );
    expect(second.body['events']).toEqual([events[1]]);
  });

  it('shows a device with its timeline, and DEVICE_NOT_FOUND (404) for one it never heard of', async () => {
    // Both committed the first revision; the canary alone took the bad one, and rolled it back.
    const timelines = await Promise.all(
      devices.map(async (deviceId) => {
        const shown = await call('GET', `/devices/${deviceId}`, 'viewer');
        return ((shown.body['timeline'] ?? []) as { event: { type: string } }[]).map((e) => e.event.type);
      }),
    );
    expect(timelines.every((types) => types.includes('device.update.committed'))).toBe(true);
    expect(timelines.map((types) => types.includes('device.update.rolled_back'))).toEqual([true, false]);
    expect(await call('GET', `/devices/${uniqueId('never')}`, 'viewer')).toMatchObject({
      status: 404,
      body: { code: 'DEVICE_NOT_FOUND' },
    });
  });

  it("tags a device into a group for a release manager, recording who did, and counts each group's devices", async () => {
    const group = uniqueId('pool').toLowerCase();
    const tagged = await call('POST', `/devices/${devices[1]}/tags`, 'release', { add: [group] });
    expect(tagged).toMatchObject({ status: 200, body: { added: [group], removed: [] } });
    expect(changes.at(-1)).toMatchObject({
      aggregate: 'device',
      aggregateId: devices[1],
      type: 'device.tagged',
      data: { by: 'release-person', added: [group] },
    });
    // The same again changes nothing, and records nothing.
    const recorded = changes.length;
    expect(
      (await call('POST', `/devices/${devices[1]}/tags`, 'release', { add: [group] })).body,
    ).toMatchObject({
      added: [],
    });
    expect(changes).toHaveLength(recorded);
    const tags = (await call('GET', '/tags', 'viewer')).body as unknown as { tag: string; devices: number }[];
    expect(tags.find((t) => t.tag === group)).toEqual({ tag: group, devices: 1 });

    expect(await call('POST', `/devices/${devices[1]}/tags`, 'viewer', { add: ['x'] })).toMatchObject({
      status: 403,
    });
    expect(
      await call('POST', `/devices/${devices[1]}/tags`, 'release', { add: ['Not A Tag'] }),
    ).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
    expect(await call('POST', `/devices/${uniqueId('never')}/tags`, 'release', { add: ['x'] })).toMatchObject(
      {
        status: 400,
        body: { code: 'INVALID_INPUT' },
      },
    );
    await call('POST', `/devices/${devices[1]}/tags`, 'release', { remove: [group] });
  });

  it('answers ROLLOUT_NOT_FOUND (404) for a rollout that never was, and INVALID_INPUT for a bad id', async () => {
    expect(await call('GET', `/rollouts/${uniqueId('never')}`)).toMatchObject({
      status: 404,
      body: { code: 'ROLLOUT_NOT_FOUND' },
    });
    expect(await call('GET', '/rollouts/bad%20id')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
    expect(await call('GET', '/rollouts?status=lost')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
  });

  it('plans and starts a rollout for a release manager, refusing what `rollout start` refuses', async () => {
    const target = { devices };
    const policy = { canary: 1, waves: { percentages: [100] } };
    const post = (path: string, body: unknown, role: ApiRole = 'release') => call('POST', path, role, body);

    const plan = await post('/rollouts/plan', { target, policy }, 'viewer');
    expect(plan).toMatchObject({ status: 200 });
    expect((plan.body['waves'] as string[][]).map((w) => w.length)).toEqual([1, 1]);

    const started = uniqueId('apistart');
    const start = { rolloutId: started, revision, target, policy };
    expect(await post('/rollouts', start, 'viewer')).toMatchObject({ status: 403 });
    expect(await post('/rollouts', { ...start, revision: 'never-released' })).toMatchObject({
      status: 422,
      body: { code: 'TARGET_NOT_FOUND' },
    });
    expect(await post('/rollouts', { ...start, extra: 1 })).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT' },
    });
    expect(await post('/rollouts', start)).toMatchObject({ status: 200, body: { rolloutId: started } });
    expect(await h.client.workflow.getHandle(`rollout/${started}`).result()).toMatchObject({
      status: 'completed',
    });
    const startedEvent = (await h.eventLog.read('rollout', started)).find(
      (e) => e.event.type === 'rollout.started',
    );
    expect(startedEvent?.event.data).toMatchObject({ by: 'release-person' });
    expect(await post('/rollouts', start)).toMatchObject({ status: 409, body: { code: 'ROLLOUT_EXISTS' } });
  });
});
