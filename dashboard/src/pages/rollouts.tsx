import { api, session, type RolloutRow } from '../api.ts';
import { useLive } from '../live.ts';
import { Problem } from '../parts.tsx';

export function RolloutsPage() {
  const { data, error } = useLive(() => api<RolloutRow[]>('/rollouts'), 'rollouts', []);
  if (error) return <Problem error={error} />;
  if (!data) return <p>Loading…</p>;
  return (
    <section aria-labelledby="rollouts-title">
      <h2 id="rollouts-title">Rollouts</h2>
      {session.role() === 'release' && <a href="#/rollouts/new">Start a rollout</a>}
      {data.length === 0 ? (
        <p>No rollouts yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">Status</th>
              <th scope="col">Revision</th>
              <th scope="col">Started by</th>
              <th scope="col">Committed</th>
              <th scope="col">Rolled back</th>
              <th scope="col">Failed</th>
            </tr>
          </thead>
          <tbody>
            {data.map((row) => (
              <tr key={row.rolloutId}>
                <td>
                  <a href={`#/rollouts/${encodeURIComponent(row.rolloutId)}`}>{row.rolloutId}</a>
                </td>
                <td>
                  <span class={`status ${row.status}`}>{row.status}</span>
                </td>
                <td>{row.revision}</td>
                <td>{row.startedBy}</td>
                <td>{row.committed}</td>
                <td>{row.rolledBack}</td>
                <td>{row.failed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
