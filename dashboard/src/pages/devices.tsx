import { DEVICE_PHASES } from '../../../core/phases.ts';
import { useState } from 'preact/hooks';
import { api, type DeviceRow } from '../api.ts';
import { useLive } from '../live.ts';
import { Problem, timeOf } from '../parts.tsx';

/** Devices one page shows; `Next` asks for the ones after the last. */
const PAGE = 100;

interface Filters {
  tag: string;
  hardwareId: string;
  revision: string;
  phase: string;
}

/** Any phase, then each an update goes through (the server's own list). */
const PHASES = ['', 'started', 'commanded', ...DEVICE_PHASES];

/** The devices, a page at a time, by group, hardware, revision or phase. */
export function DevicesPage() {
  const [typed, setTyped] = useState<Filters>({ tag: '', hardwareId: '', revision: '', phase: '' });
  const [filters, setFilters] = useState(typed);
  const [after, setAfter] = useState<string[]>([]);
  const query = new URLSearchParams({ limit: String(PAGE) });
  for (const [name, value] of Object.entries(filters) as [keyof Filters, string][])
    if (value.trim()) query.set(name, value.trim());
  if (after.length > 0) query.set('after', after.at(-1)!);
  const { data, error } = useLive(() => api<DeviceRow[]>(`/devices?${query}`), 'devices', [query.toString()]);
  const field = (name: keyof Filters, label: string) => (
    <label>
      {label}
      <input
        name={name}
        value={typed[name]}
        onInput={(e) => setTyped({ ...typed, [name]: e.currentTarget.value })}
      />
    </label>
  );
  return (
    <section aria-labelledby="devices-title">
      <h2 id="devices-title">Devices</h2>
      <form
        class="start"
        onSubmit={(e) => {
          e.preventDefault();
          setAfter([]);
          setFilters(typed);
        }}
      >
        {field('tag', 'Group (tag)')}
        {field('hardwareId', 'Hardware id')}
        {field('revision', 'Runs revision')}
        <label>
          Phase
          <select value={typed.phase} onChange={(e) => setTyped({ ...typed, phase: e.currentTarget.value })}>
            {PHASES.map((phase) => (
              <option key={phase} value={phase}>
                {phase || 'any'}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && <Problem error={error} />}
      {!data ? (
        !error && <p>Loading…</p>
      ) : (
        <>
          <table aria-label="devices">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Hardware</th>
                <th scope="col">Groups</th>
                <th scope="col">Runs</th>
                <th scope="col">Latest update</th>
                <th scope="col">Last seen (UTC)</th>
              </tr>
            </thead>
            <tbody>
              {data.map((device) => (
                <tr key={device.deviceId}>
                  <td>
                    <a href={`#/devices/${encodeURIComponent(device.deviceId)}`}>{device.deviceId}</a>
                  </td>
                  <td>{device.ecus[0]?.hardwareId}</td>
                  <td>{device.tags.join(', ')}</td>
                  <td>{device.committedRevision ?? ''}</td>
                  <td>{device.phase ? `${device.phase} (${device.revision ?? ''})` : ''}</td>
                  <td class="when">{device.lastSeenAt ? timeOf(device.lastSeenAt) : 'never'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.length === 0 && <p>No device matches.</p>}
          <div class="controls">
            <button type="button" disabled={after.length === 0} onClick={() => setAfter(after.slice(0, -1))}>
              Previous
            </button>
            <button
              type="button"
              disabled={data.length < PAGE}
              onClick={() => setAfter([...after, data.at(-1)!.deviceId])}
            >
              Next
            </button>
          </div>
        </>
      )}
    </section>
  );
}
