import { describe, expect, it } from 'vitest';
import {
  deviceUpdateWorkflowId,
  MAX_COMMAND_BYTES,
  parseJson,
  reportSubject,
  subjects,
  telemetrySchema,
  updateCommandSchema,
} from '../../../core/index.ts';

const command = {
  rolloutId: 'r1',
  revision: '2.0.0',
  artifact: {
    name: 'rootfs.img',
    url: 'http://127.0.0.1:8080/targets/rootfs.img',
    sha256: 'a'.repeat(64),
    length: 10,
  },
};
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
    const bad = {
      ...command,
      rolloutId: 'r.>',
      artifact: { ...command.artifact, sha256: 'XYZ', length: -1 },
    };
    let message = '';
    try {
      parseCommand(bad);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('rolloutId');
    expect(message).toContain('artifact.sha256');
    expect(message).toContain('artifact.length');
  });

  it.each([
    ['a path that leaves the slot', { name: '../etc/passwd' }],
    ['a dot-only name', { name: '..' }],
    ['a file: URL', { url: 'file:///etc/shadow' }],
  ])('refuses %s', (_what, artifact) => {
    expect(() =>
      parseCommand({ ...command, artifact: { ...command.artifact, ...artifact } }),
    ).toThrowWithCode('INVALID_INPUT');
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
