import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appHealthSchema } from '../../../../core/index.ts';
import type { AppRelease, OciImage } from '../../../../services/image-repo/index.ts';
import { closeAppRig, randomArtifacts, startAgentRig, type AgentRig } from '../../../helpers/agent-rig.ts';
import { busyboxImage } from '../../../helpers/oci-image.ts';

/** busybox httpd serving /www on port 8080 of the container's own network namespace. */
let site: OciImage;
let layouts: string;
beforeAll(async () => {
  layouts = await mkdtemp(join(tmpdir(), 'uproll-http-images-'));
  site = await busyboxImage(join(layouts, 'layout'), 'site', {
    files: { 'www/index.html': '<p>web 1.0</p>\n', 'www/ready': 'yes\n' },
    cmd: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'],
  });
}, 60_000);
afterAll(() => rm(layouts, { recursive: true, force: true }));

let rig: AgentRig | undefined;
afterEach(async () => {
  if (rig) await closeAppRig(rig);
  rig = undefined;
});

const os = randomArtifacts(1);
const web = (health: AppRelease['health'], extra: Partial<AppRelease> = {}): AppRelease => ({
  name: 'web',
  image: site,
  health,
  ...extra,
});
const probe = { attempts: 20, intervalMs: 100, timeoutMs: 2000 };

describe('an HTTP health goal', { timeout: 60_000 }, () => {
  it('commits once the app answers the GET inside its own network namespace', async () => {
    rig = await startAgentRig();
    // httpd starts a moment after the container: the first attempts may find nothing listening.
    await rig.release('1.0', os, {
      apps: [
        web(
          { http: { port: 8080, path: '/ready' }, ...probe },
          { command: ['/bin/sh', '-c', 'sleep 0.3; exec httpd -f -p 8080 -h /www'] },
        ),
      ],
    });
    const { telemetry } = await rig.update('1.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  });

  it('rolls back with APP_UNHEALTHY when nothing answers, and when the answer has another status', async () => {
    rig = await startAgentRig();
    await rig.release('1.0', os, { apps: [web({ http: { port: 8080 }, ...probe })] });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });

    const silent = web(
      { http: { port: 8080 }, ...probe, attempts: 3 },
      { command: ['/bin/sh', '-c', 'echo "web 2.0 never listens"; exec sleep 3600'] },
    );
    await rig.release('2.0', os, { apps: [silent] });
    const refused = (await rig.update('2.0')).telemetry.at(-1);
    expect(refused).toMatchObject({ phase: 'rolled_back', error: { code: 'APP_UNHEALTHY' } });
    expect(refused?.error?.message).toContain('web 2.0 never listens');

    await rig.release('3.0', os, {
      apps: [
        // A new env makes a new container (a changed health goal alone would keep the running one).
        web(
          { http: { port: 8080, path: '/missing', status: 200 }, ...probe, attempts: 3 },
          { env: { V: '3' } },
        ),
      ],
    });
    expect((await rig.update('3.0')).telemetry.at(-1)).toMatchObject({
      phase: 'rolled_back',
      error: { code: 'APP_UNHEALTHY' },
    });
  });
});

describe('an HTTP health goal in a revision', () => {
  it.each([
    ['a port of 0', { port: 0 }],
    ['a port over 65535', { port: 65536 }],
    ['a path with a host part', { port: 80, path: 'http://evil/' }],
    ['a path with a space', { port: 80, path: '/a b' }],
    ['a status that is not HTTP', { port: 80, status: 42 }],
    ['an unknown field', { port: 80, host: '10.0.0.1' }],
  ])('is refused with %s', (_, http) => {
    expect(appHealthSchema.safeParse({ http }).success).toBe(false);
  });

  it('defaults to GET / with any 2xx, tried 10 times', () => {
    expect(appHealthSchema.parse({ http: { port: 80 } })).toEqual({
      http: { port: 80, path: '/' },
      timeoutMs: 10_000,
      attempts: 10,
      intervalMs: 500,
    });
  });
});
