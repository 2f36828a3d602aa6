import { useState } from 'preact/hooks';
import type { ApiProblem} from '../api.ts';
import { api, session, type RolloutProgress } from '../api.ts';
import { useLive } from '../live.ts';
import { Problem } from '../parts.tsx';

const CONTROLS = {
  pause: ['running'],
  resume: ['paused'],
  abort: ['running', 'paused'],
} as const;

export function RolloutPage({ rolloutId }: { rolloutId: string }) {
  const path = `/rollouts/${encodeURIComponent(rolloutId)}`;
  const {
    data: shown,
    error,
    refresh,
  } = useLive(() => api<RolloutProgress>(path), 'rollouts,devices', [rolloutId]);
  const [refused, setRefused] = useState<ApiProblem>();
  if (error) return <Problem error={error} />;
  if (!shown) return <p>Loading…</p>;
  const control = async (verb: keyof typeof CONTROLS) => {
    if (!confirm(`${verb[0]!.toUpperCase()}${verb.slice(1)} rollout ${rolloutId}?`)) return;
    try {
      await api<RolloutProgress>(`${path}/${verb}`, { method: 'POST' });
      setRefused(undefined);
    } catch (err) {
      setRefused(err as ApiProblem);
    }
    await refresh();
  };
  const { counts } = shown;
  const share = (n: number) => `${counts.total === 0 ? 0 : (100 * n) / counts.total}%`;
  return (
    <section aria-labelledby="rollout-title">
      <h2 id="rollout-title">
        Rollout {shown.rolloutId}{' '}
        <span class={`status ${shown.status}`} data-testid="rollout-status" aria-live="polite">
          {shown.status}
        </span>
      </h2>
      <p>Revision {shown.revision}</p>
      {session.role() === 'release' && (
        <div class="controls">
          {(Object.keys(CONTROLS) as (keyof typeof CONTROLS)[]).map((verb) => (
            <button
              key={verb}
              type="button"
              disabled={!(CONTROLS[verb] as readonly string[]).includes(shown.status)}
              onClick={() => void control(verb)}
            >
              {verb[0]!.toUpperCase() + verb.slice(1)}
            </button>
          ))}
        </div>
      )}
      {refused && <Problem error={refused} />}
      <div class="progress" role="img" aria-label={`${counts.committed} of ${counts.total} committed`}>
        <span class="committed" style={{ width: share(counts.committed) }} />
        <span class="rolled_back" style={{ width: share(counts.rolledBack) }} />
        <span class="failed" style={{ width: share(counts.failed) }} />
      </div>
      <dl class="counts" data-testid="rollout-counts">
        {Object.entries(counts).map(([name, count]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd data-count={name}>{count}</dd>
          </div>
        ))}
      </dl>
      <h3>Waves</h3>
      <ol class="waves">
        {shown.waves.map((wave) => (
          <li key={wave.index} class={wave.state}>
            wave {wave.index} ({wave.index === 0 ? 'canary, ' : ''}
            {wave.size} {wave.size === 1 ? 'device' : 'devices'}): {wave.state}
          </li>
        ))}
      </ol>
      {shown.failures.length > 0 && (
        <>
          <h3>Devices that did not commit</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Outcome</th>
                <th scope="col">Code</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {shown.failures.map((f) => (
                <tr key={f.deviceId}>
                  <td>
                    <a href={`#/devices/${encodeURIComponent(f.deviceId)}`}>{f.deviceId}</a>
                  </td>
                  <td>{f.outcome}</td>
                  <td>
                    <code>{f.reason.code}</code>
                  </td>
                  <td class="why">{f.reason.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
