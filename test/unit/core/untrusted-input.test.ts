import { describe, expect, it } from 'vitest';
import {
  deviceUpdateWorkflowId,
  MAX_COMMAND_BYTES,
  missingObjects,
  parseJson,
  reportSubject,
  rootfsImageOf,
  stateRevisionSchema,
  subjects,
  telemetrySchema,
  updateCommandSchema,
} from '../../../core/index.ts';

const command = { rolloutId: 'r1', revision: '2.0.0' };
const parseCommand = (value: unknown) =>
  parseJson(updateCommandSchema, JSON.stringify(value), {
    maxBytes: MAX_COMMAND_BYTES,
    what: 'update command',
  });

describe('update command from the network', () => {
  it('parses a valid command', () => {
    expect(parseCommand(command)).toEqual(command);
  });

  it('reports every bad field at once', () => {
    let message = '';
    try {
      parseCommand({ rolloutId: 'r.>', revision: '' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('rolloutId');
    expect(message).toContain('revision');
  });

  it.each([
    ['a revision that is a path', { revision: '../etc/passwd' }],
    ['a revision with a subject wildcard', { revision: '1.>' }],
  ])('refuses %s', (_what, change) => {
    expect(() => parseCommand({ ...command, ...change })).toThrowWithCode('INVALID_INPUT');
  });

  it('refuses input over its byte cap before parsing it', () => {
    const huge = JSON.stringify({ ...command, revision: 'x'.repeat(MAX_COMMAND_BYTES) });
    expect(() =>
      parseJson(updateCommandSchema, huge, { maxBytes: MAX_COMMAND_BYTES, what: 'cmd' }),
    ).toThrowWithCode('INPUT_TOO_LARGE');
  });

  it('refuses bytes that are not UTF-8 JSON', () => {
    expect(() =>
      parseJson(updateCommandSchema, new Uint8Array([0xff, 0xfe]), { maxBytes: 100, what: 'cmd' }),
    ).toThrowWithCode('INVALID_INPUT');
  });
});

describe('telemetry from a device', () => {
  it('refuses an unknown phase', () => {
    const result = telemetrySchema.safeParse({
      deviceId: 'd1',
      rolloutId: 'r1',
      revision: '1',
      phase: 'pwned',
      at: '2026-11-21T00:00:00Z',
    });
    expect(result.success).toBe(false);
  });
});

describe('subjects and workflow ids', () => {
  it('follow the messaging sketch', () => {
    expect(subjects.command('d1', 'update')).toBe('uproll.cmd.d1.update');
    expect(subjects.telemetry('d1')).toBe('uproll.dev.d1.telemetry');
    expect(subjects.events('device', 'd1')).toBe('uproll.evt.device.d1');
    expect(reportSubject('d1')).toBe('uproll.dev.d1.report');
    expect(deviceUpdateWorkflowId('d1', 'r1')).toBe('device-update/d1/r1');
  });

  it.each(['d1.>', '*', 'a b', '', 'x'.repeat(65)])('never widen a subject with the id %j', (id) => {
    expect(() => subjects.telemetry(id)).toThrowWithCode('INVALID_INPUT');
  });
});

describe('state revision documents', () => {
  const revision = {
    kind: 'uproll.state-revision/v1',
    name: '1.0',
    artifacts: [{ path: 'etc/app.conf', sha256: 'a'.repeat(64), length: 3 }],
  };

  it('accepts relative artifact paths of plain segments', () => {
    expect(stateRevisionSchema.parse(revision)).toEqual(revision);
  });

  it.each([
    ['a path that leaves the deployment', '../etc/passwd'],
    ['an absolute path', '/etc/passwd'],
    ['a dot segment', 'etc/./app.conf'],
    ['an empty segment', 'etc//app.conf'],
  ])('refuses %s', (_what, path) => {
    const bad = { ...revision, artifacts: [{ ...revision.artifacts[0], path }] };
    expect(stateRevisionSchema.safeParse(bad).success).toBe(false);
  });

  it('refuses two artifacts at one path', () => {
    const twice = { ...revision, artifacts: [revision.artifacts[0], revision.artifacts[0]] };
    expect(stateRevisionSchema.safeParse(twice).success).toBe(false);
  });

  describe('with a root filesystem image', () => {
    const image = { path: 'rootfs.ext4', sha256: 'b'.repeat(64), length: 4096, image: 'rootfs' };

    it('accepts one artifact marked as the rootfs image, and finds it', () => {
      const parsed = stateRevisionSchema.parse({ ...revision, artifacts: [image, ...revision.artifacts] });
      expect(rootfsImageOf(parsed)).toEqual(image);
      expect(rootfsImageOf(stateRevisionSchema.parse(revision))).toBeUndefined();
    });

    it.each([
      ['two images', [image, { ...image, path: 'other.ext4' }]],
      ['an executable image', [{ ...image, executable: true }]],
      ['an image kind it does not know', [{ ...image, image: 'kernel' }]],
    ])('refuses %s', (_what, artifacts) => {
      expect(stateRevisionSchema.safeParse({ ...revision, artifacts }).success).toBe(false);
    });
  });

  it('lists each missing object once, and none the device holds', () => {
    const parsed = stateRevisionSchema.parse({
      ...revision,
      artifacts: [
        { path: 'a', sha256: '1'.repeat(64), length: 1 },
        { path: 'b', sha256: '1'.repeat(64), length: 1 },
        { path: 'c', sha256: '2'.repeat(64), length: 1 },
        { path: 'd', sha256: '3'.repeat(64), length: 1 },
      ],
    });
    expect(missingObjects(parsed, new Set(['3'.repeat(64)])).map((a) => a.path)).toEqual(['a', 'c']);
  });
});
