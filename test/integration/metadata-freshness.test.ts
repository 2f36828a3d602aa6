import { afterEach, describe, expect, it } from 'vitest';
import { UprollError } from '../../core/index.ts';
import { keepMetadataFresh } from '../../services/freshness/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { ensureFreshnessSchedule } from '../../services/temporal/index.ts';
import { newImageRepository } from '../helpers/image-repository.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the metadata freshness Schedule', () => {
  it('runs the job on Temporal and re-signs a timestamp that nears its expiry', async () => {
    // A repository whose timestamp was signed 20 hours ago: 4 hours left of its day.
    const image = await newImageRepository(new Date(Date.now() - 20 * 60 * 60 * 1000));
    const director = new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-it-director-')));
    const taskQueue = uniqueId('freshness');
    h = await startHarness({
      taskQueue,
      keepMetadataFresh: () =>
        keepMetadataFresh({
          image: image.repository,
          director,
          signers: { image: image.signers, director: { targets: [], snapshot: [], timestamp: [] } },
          now: new Date(),
        }),
    });
    await h.startWorker();
    const scheduleId = uniqueId('freshness');
    await ensureFreshnessSchedule(h.client, { scheduleId, taskQueue, every: '1 hour' });
    await h.client.schedule.getHandle(scheduleId).trigger();

    const versions = await eventually('a re-signed timestamp', async () => {
      const v = await image.repository.versions();
      return v.timestamp > 1 ? v : undefined;
    });
    expect(versions.timestamp).toBe(2);
    await h.client.schedule.getHandle(scheduleId).delete();
  });

  it('raises an alert event on the event log when a run fails', async () => {
    const taskQueue = uniqueId('freshness');
    h = await startHarness({
      taskQueue,
      keepMetadataFresh: () =>
        Promise.reject(new UprollError('KEY_REVOKED', 'the timestamp key was revoked')),
    });
    await h.startWorker();
    const scheduleId = uniqueId('freshness');
    await ensureFreshnessSchedule(h.client, { scheduleId, taskQueue });
    await h.client.schedule.getHandle(scheduleId).trigger();

    const alert = await eventually('the alert event', async () => {
      const events = await h!.eventLog.read('repository', 'metadata');
      return events.find((e) => JSON.stringify(e.event.data).includes(scheduleId));
    });
    expect(alert.event).toMatchObject({ type: 'repository.freshness.missed' });
    expect(JSON.stringify(alert.event.data)).toContain('the timestamp key was revoked');
    await h.client.schedule.getHandle(scheduleId).delete();
  });
});
