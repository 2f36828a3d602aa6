import { api, type Fleet } from '../api.ts';
import { useLive } from '../live.ts';
import { Problem } from '../parts.tsx';

export function FleetPage() {
  // The fleet view changes as devices commit; following every device's change would read the
  // whole device projection again each second at fleet scale.
  const { data, error } = useLive(() => api<Fleet>('/fleet'), 'fleet', []);
  if (error) return <Problem error={error} />;
  if (!data) return <p>Loading…</p>;
  const revisions = Object.entries(data.revisions).sort((a, b) => b[1] - a[1]);
  const most = Math.max(1, ...revisions.map(([, n]) => n));
  return (
    <section aria-labelledby="fleet-title">
      <h2 id="fleet-title">Fleet</h2>
      <p>
        <strong data-testid="device-count">{data.devices}</strong> devices
        {data.online !== undefined && (
          <>
            {' '}
            — <strong data-testid="online-count">{data.online}</strong> online,{' '}
            <strong data-testid="offline-count">{data.offline}</strong> offline (no heartbeat for five
            minutes)
          </>
        )}
      </p>
      <h3>Revisions</h3>
      <ul class="bars" aria-label="devices by revision">
        {revisions.map(([revision, count]) => (
          <li key={revision}>
            <span class="label">{revision}</span>
            <span class="bar" style={{ width: `${(100 * count) / most}%` }} />
            <span class="count">{count}</span>
          </li>
        ))}
      </ul>
      <h3>Devices by phase</h3>
      <dl class="counts">
        {Object.entries(data.phases).map(([phase, count]) => (
          <div key={phase}>
            <dt>{phase}</dt>
            <dd>{count}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
