import { useState } from 'preact/hooks';
import { api, session, type ApiProblem, type RolloutStatus, type StoredEvent } from '../api.ts';
import { useLive } from '../live.ts';
import { EventTable, Problem } from '../parts.tsx';

/** The events of a rollout the page shows, at most (its start, waves, gates, commands come first). */
const TIMELINE = 500;

/** Each control, the statuses it applies to, and what the confirm asks. */
const CONTROLS = {
  pause: { label: 'Pause', when: ['running'], asks: 'Pause rollout' },
  resume: { label: 'Resume', when: ['paused'], asks: 'Resume rollout' },
  abort: { label: 'Abort', when: ['running', 'paused'], asks: 'Abort rollout' },
  rollback: {
    label: 'Roll back',
    when: ['running', 'paused', 'completed', 'aborted'],
    asks: 'Return every device it committed to its previous revision? Rollout',
  },
} as const;
type Control = keyof typeof CONTROLS;

export function RolloutPage({ rolloutId }: { rolloutId: string }) {
  const path = `/rollouts/${encodeURIComponent(rolloutId)}`;
  const { data, error, refresh } = useLive(
    async () => {
      const [shown, page] = await Promise.all([
        api<RolloutStatus>(path),
        api<{ events: StoredEvent[]; next: number | null }>(
          `/events?aggregate=rollout&id=${encodeURIComponent(rolloutId)}&limit=${TIMELINE}`,
        ),
      ]);
      return { shown, events: page.events, more: page.next !== null };
    },
    'rollouts,devices',
    [rolloutId],
  );
  const [refused, setRefused] = useState<ApiProblem>();
  const [notice, setNotice] = useState<string>();
  if (error) return <Problem error={error} />;
  if (!data) return <p>Loading…</p>;
  const { shown, events } = data;
  const ask = async (what: string, call: () => Promise<void>) => {
    if (!confirm(what)) return;
    try {
      await call();
      setRefused(undefined);
    } catch (err) {
      setRefused(err as ApiProblem);
    }
    await refresh();
  };
  const control = (verb: Control) =>
    ask(`${CONTROLS[verb].asks} ${rolloutId}?`, async () => {
      if (verb !== 'rollback') return void (await api(`${path}/${verb}`, { method: 'POST' }));
      const started = await api<{ during: string; workflowId: string }>(`${path}/rollback`, {
        method: 'POST',
        body: { retry: shown.rollback?.state === 'finished' },
      });
      setNotice(
        started.during === 'run'
          ? 'Aborted: the rollout returns its devices itself.'
          : `Rolling back as ${started.workflowId}.`,
      );
    });
  const retryable = shown.failures.filter((f) => f.outcome !== 'pending').length;
  const retryFailed = () =>
    ask(
      `Start a new rollout of ${shown.revision} over the ${retryable} devices that did not commit?`,
      async () => {
        const started = await api<{ rolloutId: string }>(`${path}/retry-failed`, {
          method: 'POST',
          body: {},
        });
        location.hash = `#/rollouts/${encodeURIComponent(started.rolloutId)}`;
      },
    );
  const rollbackAgain = shown.rollback?.state === 'finished' && shown.rollback.notBack.length > 0;
  const { counts } = shown;
  const share = (n: number, of = counts.total) => `${of === 0 ? 0 : (100 * n) / of}%`;
  const gates = gateVerdicts(events);
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
          {(Object.keys(CONTROLS) as Control[]).map((verb) => (
            <button
              key={verb}
              type="button"
              disabled={
                !(CONTROLS[verb].when as readonly string[]).includes(shown.status) &&
                !(verb === 'rollback' && rollbackAgain)
              }
              onClick={() => void control(verb)}
            >
              {verb === 'rollback' && rollbackAgain ? 'Roll back the rest' : CONTROLS[verb].label}
            </button>
          ))}
          <button type="button" disabled={retryable === 0} onClick={() => void retryFailed()}>
            Retry failed
          </button>
        </div>
      )}
      {refused && <Problem error={refused} />}
      {notice && <p role="status">{notice}</p>}
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
      <ol class="bars waves" aria-label="waves">
        {shown.waves.map((wave) => (
          <li key={wave.index} class={wave.state}>
            <span class="label">
              wave {wave.index}
              {wave.index === 0 ? ' (canary)' : ''}: {wave.state}
            </span>
            <span
              class="track"
              role="img"
              aria-label={`wave ${wave.index}: ${wave.finished} of ${wave.size} finished`}
            >
              <span class="bar" style={{ width: share(wave.finished, wave.size) }} />
            </span>
            <span class="count">
              {wave.finished}/{wave.size}
            </span>
            {gates.get(wave.index) && <span class="gate">gate: {gates.get(wave.index)}</span>}
          </li>
        ))}
      </ol>
      {shown.rollback && (
        <>
          <h3>Rollback after the end</h3>
          <ul data-testid="rollback-attempts">
            {shown.rollback.attempts.map((a) => (
              <li key={a.attempt}>
                {a.attempt === 1 ? 'rollback' : `retry ${a.attempt}`} by {a.by}, {a.state}
                {a.counts
                  ? `: ${a.counts['rolled_back'] ?? 0} back, ${a.counts['unchanged'] ?? 0} unchanged, ${a.counts['busy'] ?? 0} busy, ${a.counts['failed'] ?? 0} failed`
                  : ` (${a.devices} devices)`}
              </li>
            ))}
          </ul>
        </>
      )}
      {shown.failures.length > 0 && (
        <>
          <h3>Devices that did not commit</h3>
          <table aria-label="devices that did not commit">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Outcome</th>
                <th scope="col">Code</th>
                <th scope="col">What the device said</th>
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
      <h3>Timeline</h3>
      <EventTable events={events} label="rollout timeline" />
      {data.more && <p class="hint">Its first {TIMELINE} events; `uproll events` has them all.</p>}
    </section>
  );
}

/** Each wave's gate verdict, from the rollout's events: passed, or failed with why. */
function gateVerdicts(events: readonly StoredEvent[]): Map<number, string> {
  const verdicts = new Map<number, string>();
  for (const { event } of events) {
    const wave = event.data['wave'];
    if (typeof wave !== 'number') continue;
    if (event.type === 'rollout.gate.passed') verdicts.set(wave, 'passed');
    if (event.type === 'rollout.gate.failed') verdicts.set(wave, `failed: ${String(event.data['reason'])}`);
  }
  return verdicts;
}
