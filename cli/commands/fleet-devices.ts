import { assertToken, UprollError, type DevicePresence } from '../../core/index.ts';
import { readPresence, type StoredEvent } from '../../services/nats/index.ts';
import {
  readDeviceView,
  readEvents,
  readProjections,
  type DeviceView,
} from '../../services/projections/index.ts';
import { UsageError, type Command, type Io } from '../command.ts';
import { limitOption, printEvents } from './events.ts';
import { withDeploymentNats } from '../deployment-connections.ts';
import { appSummary, errorLines, oneLine } from '../device-text.ts';
import { DEPLOYMENT_HELP, deploymentOptions } from '../deployment.ts';

const DEFAULT_EVENTS = 10;

export const devicesList: Command = {
  name: 'devices list',
  summary:
    'Every device the fleet knows: what it runs, its apps, its last update, when it was last heard of.',
  usage: 'uproll devices list [--json]',
  details:
    'RUNS is what the device runs by its latest signed report (or its last committed update);\n' +
    'LAST UPDATE is the latest update and its phase ("offline" when the device never answered:\n' +
    'the rollout counts it pending). LAST SEEN is its latest heartbeat, APPS what that heartbeat\n' +
    'said of its apps (name and state: running, starting, restarting, unhealthy, exited, missing). Read from the device\n' +
    'projection, which the services keep from the event log (`uproll events rebuild` builds it again).\n' +
    DEPLOYMENT_HELP,
  options: { ...deploymentOptions },
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return withDeploymentNats(values, async (nc) => {
      const devices = Object.values((await readProjections(nc)).devices).sort((a, b) =>
        a.deviceId.localeCompare(b.deviceId),
      );
      const presence = await readPresence(
        nc,
        devices.map((d) => d.deviceId),
        { withApps: true },
      );
      if (values.json)
        io.out(
          JSON.stringify(
            devices.map((d) => ({
              ...d,
              lastSeenAt: presence[d.deviceId]?.lastSeenAt ?? null,
              apps: presence[d.deviceId]?.apps ?? [],
            })),
          ),
        );
      else if (devices.length === 0)
        io.out('no devices in the projection yet (`uproll events rebuild` builds it from the event log)');
      else printTable(devices, presence, io);
      return 0;
    });
  },
};

export const devicesShow: Command = {
  name: 'devices show',
  summary: "One device's projection, its apps as its last heartbeat showed them, and its last events.",
  usage: 'uproll devices show DEVICE_ID [--events N] [--json]',
  details: DEPLOYMENT_HELP,
  options: {
    ...deploymentOptions,
    events: { type: 'string', description: `how many of its last events (default ${DEFAULT_EVENTS})` },
  },
  async run({ values, positionals }, io) {
    const [deviceId, ...rest] = positionals;
    if (!deviceId) throw new UsageError('name the DEVICE_ID');
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    assertToken(deviceId, 'device id');
    const limit = limitOption(values, 'events') ?? DEFAULT_EVENTS;
    return withDeploymentNats(values, async (nc) => {
      const device = await readDeviceView(nc, deviceId);
      const presence = (await readPresence(nc, [deviceId], { withApps: true }))[deviceId];
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
            lastSeenAt: presence?.lastSeenAt ?? null,
            apps: presence?.apps ?? [],
            events: events.map((stored) => ({ sequence: stored.sequence, ...stored.event })),
          }),
        );
        return 0;
      }
      printDevice(deviceId, device, presence, io);
      io.out(`last ${events.length} events:`);
      printEvents(events, false, io);
      return 0;
    });
  },
};

function printTable(
  devices: readonly DeviceView[],
  presence: Readonly<Record<string, DevicePresence>>,
  io: Io,
): void {
  const rows = [
    ['DEVICE', 'RUNS', 'LAST UPDATE', 'ROLLOUT', 'LAST SEEN', 'APPS'],
    ...devices.map((d) =>
      [
        d.deviceId,
        d.committedRevision ?? '-',
        lastUpdate(d),
        d.rolloutId ?? '-',
        d.revokedAt ? `revoked ${d.revokedAt}` : (presence[d.deviceId]?.lastSeenAt ?? 'never'),
        presence[d.deviceId]?.apps?.map(appSummary).join(', ') || '-',
      ].map(oneLine),
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

/** The latest update as `revision phase`; a device that never answered is offline, not failed. */
function lastUpdate(device: DeviceView): string {
  if (!device.revision || !device.phase) return device.provisionedAt ? 'none (provisioned)' : '-';
  const offline = device.phase === 'failed' && device.error?.code === 'DEVICE_OFFLINE';
  return `${device.revision} ${offline ? 'offline (pending)' : device.phase}`;
}

function printDevice(
  deviceId: string,
  device: DeviceView | undefined,
  presence: DevicePresence | undefined,
  io: Io,
): void {
  io.out(`device ${deviceId}`);
  printApps(presence, io);
  if (!device) {
    io.out('  not in the projection yet (`uproll events rebuild` builds it from the event log)');
    return;
  }
  const report = device.lastReport
    ? `${device.lastReport.accepted ? 'accepted' : `rejected (${device.lastReport.error?.code ?? '?'})`} at ${device.lastReport.at}`
    : undefined;
  const fields: [string, string | undefined][] = [
    ['runs', device.committedRevision ?? 'nothing Uproll installed yet'],
    ['last update', lastUpdate(device)],
    ['hardware id', device.hardwareId],
    ['tags', device.tags?.length ? device.tags.join(' ') : undefined],
    ['provisioned', device.provisionedAt],
    ['last seen', presence?.lastSeenAt ?? 'never'],
    ['rollout', device.rolloutId],
    ['workflow', device.workflowId],
    ['deployment', device.deployment],
    ['last report', report],
    ['updated', `${device.updatedAt} (event ${device.lastSequence})`],
  ];
  for (const [name, value] of fields)
    if (value !== undefined) io.out(`  ${name.padEnd(12)} ${oneLine(value)}`);
  // The latest update's error, with an unhealthy app's last output below it.
  const [first, ...output] = device.error ? errorLines(device.error) : [];
  if (first !== undefined) io.out(`  ${'last error'.padEnd(12)} ${first}`);
  for (const line of output) io.out(`  ${''.padEnd(12)}   ${line}`);
}

/** Each app as the device's last heartbeat showed it. */
function printApps(presence: DevicePresence | undefined, io: Io): void {
  for (const app of presence?.apps ?? [])
    io.out(
      `  ${'app'.padEnd(12)} ${appSummary(app)}${app.startedAt ? `, started ${app.startedAt}` : ''} [${app.container}]`,
    );
}
