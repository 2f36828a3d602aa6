import { assertToken, UprollError } from '../../core/index.ts';
import type { StoredEvent } from '../../services/nats/index.ts';
import {
  readDeviceView,
  readEvents,
  readProjections,
  type DeviceView,
} from '../../services/projections/index.ts';
import { UsageError, type Command, type Io } from '../command.ts';
import { limitOption, printEvents, withServiceNats } from './events.ts';

const DEFAULT_EVENTS = 10;

export const devicesList: Command = {
  name: 'devices list',
  summary: 'Every device the device projection knows: revision, phase, last rollout, last update.',
  usage: 'uproll devices list [--json]',
  details:
    'Read from the device projection, which the services keep from the event log;\n' +
    '`uproll events rebuild` builds it again from the whole log.',
  options: {},
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return withServiceNats(values, async (nc) => {
      const devices = Object.values((await readProjections(nc)).devices);
      if (values.json) io.out(JSON.stringify(devices));
      else if (devices.length === 0)
        io.out('no devices in the projection yet (`uproll events rebuild` builds it from the event log)');
      else printTable(devices, io);
      return 0;
    });
  },
};

export const devicesShow: Command = {
  name: 'devices show',
  summary: "One device's projection and its last events.",
  usage: 'uproll devices show DEVICE_ID [--events N] [--json]',
  options: {
    events: { type: 'string', description: `how many of its last events (default ${DEFAULT_EVENTS})` },
  },
  async run({ values, positionals }, io) {
    const [deviceId, ...rest] = positionals;
    if (!deviceId) throw new UsageError('name the DEVICE_ID');
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    assertToken(deviceId, 'device id');
    const limit = limitOption(values, 'events') ?? DEFAULT_EVENTS;
    return withServiceNats(values, async (nc) => {
      const device = await readDeviceView(nc, deviceId);
      const events: StoredEvent[] = [];
      for await (const stored of readEvents(nc, { filter: `uproll.evt.device.${deviceId}` })) {
        events.push(stored);
        if (events.length > limit) events.shift();
      }
      if (!device && events.length === 0)
        throw new UprollError('INVALID_INPUT', `no device ${deviceId} in the projection or the event log`);
      if (values.json) {
        io.out(
          JSON.stringify({
            device: device ?? null,
            events: events.map((stored) => ({ sequence: stored.sequence, ...stored.event })),
          }),
        );
        return 0;
      }
      printDevice(deviceId, device, io);
      io.out(`last ${events.length} events:`);
      printEvents(events, false, io);
      return 0;
    });
  },
};

function printTable(devices: readonly DeviceView[], io: Io): void {
  const rows = [
    ['DEVICE', 'REVISION', 'PHASE', 'ROLLOUT', 'UPDATED'],
    ...devices.map((d) =>
      [d.deviceId, d.revision ?? '-', d.phase ?? '-', d.rolloutId ?? '-', d.updatedAt].map(oneLine),
    ),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    io.out(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
}

/** Device-reported text on one line, without terminal escapes. */
function oneLine(text: string): string {
  return text.replace(/\p{Cc}+/gu, ' ');
}

function printDevice(deviceId: string, device: DeviceView | undefined, io: Io): void {
  io.out(`device ${deviceId}`);
  if (!device) {
    io.out('  not in the projection yet (`uproll events rebuild` builds it from the event log)');
    return;
  }
  const error = device.error ? `${device.error.code}: ${device.error.message}` : undefined;
  const report = device.lastReport
    ? `${device.lastReport.accepted ? 'accepted' : `rejected (${device.lastReport.error?.code ?? '?'})`} at ${device.lastReport.at}`
    : undefined;
  const fields: [string, string | undefined][] = [
    ['revision', device.revision],
    ['phase', device.phase],
    ['committed', device.committedRevision],
    ['rollout', device.rolloutId],
    ['workflow', device.workflowId],
    ['deployment', device.deployment],
    ['last error', error],
    ['last report', report],
    ['updated', `${device.updatedAt} (event ${device.lastSequence})`],
  ];
  for (const [name, value] of fields)
    if (value !== undefined) io.out(`  ${name.padEnd(12)} ${oneLine(value)}`);
}
