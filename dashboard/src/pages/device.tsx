import { api, type DeviceHistory } from '../api.ts';
import { useLive } from '../live.ts';
import { EventTable, Problem } from '../parts.tsx';
import type { ErrorInfo } from '../../../core/errors.ts';

/** What the device projection shows first, in this order. */
const DEVICE_FIELDS = [
  'hardwareId',
  'committedRevision',
  'revision',
  'phase',
  'rolloutId',
  'tags',
  'revokedAt',
];

export function DevicePage({ deviceId }: { deviceId: string }) {
  const path = `/devices/${encodeURIComponent(deviceId)}`;
  const { data, error } = useLive(() => api<DeviceHistory>(path), 'devices', [deviceId]);
  if (error) return <Problem error={error} />;
  if (!data) return <p>Loading…</p>;
  const device = data.device ?? {};
  const failure = device['error'] as ErrorInfo | undefined;
  return (
    <section aria-labelledby="device-title">
      <h2 id="device-title">Device {deviceId}</h2>
      <dl class="counts">
        {DEVICE_FIELDS.filter((field) => device[field] !== undefined).map((field) => (
          <div key={field}>
            <dt>{field}</dt>
            <dd>{Array.isArray(device[field]) ? device[field].join(', ') : String(device[field])}</dd>
          </div>
        ))}
      </dl>
      {failure && (
        <p class="error" data-testid="device-error">
          <code>{failure.code}</code>: {failure.message}
        </p>
      )}
      <h3>History</h3>
      <EventTable events={data.timeline} label="device history" />
    </section>
  );
}
