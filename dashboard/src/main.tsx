import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiProblem,
  follow,
  session,
  type DeviceHistory,
  type Fleet,
  type Key,
  type RolloutProgress,
  type RolloutRow,
} from './api.ts';

/** Where the page is: `#/`, `#/rollouts`, `#/rollouts/ID`, `#/devices/ID`, `#/keys`. */
function useRoute(): string[] {
  const parts = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(parts());
  useEffect(() => {
    const changed = () => setRoute(parts());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

interface Live<T> {
  data?: T;
  error?: ApiProblem;
  /** Loads again now (after a change this page made). */
  refresh: () => Promise<void>;
}

/** Loads `load()` now and again on each live event of `kinds` (at most once a second). */
function useLive<T>(load: () => Promise<T>, kinds: string, deps: unknown[]): Live<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiProblem }>({});
  const refresh = () =>
    load().then(
      (data) => setState({ data }),
      (error: unknown) => setState({ error: error as ApiProblem }),
    );
  useEffect(() => {
    let queued = false;
    void refresh();
    const stop = follow(kinds, () => {
      if (queued) return;
      queued = true;
      setTimeout(() => {
        queued = false;
        void refresh();
      }, 1000);
    });
    return stop;
  }, deps);
  return { ...state, refresh };
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    session.signIn(token);
    try {
      await api('/fleet');
      onSignedIn();
    } catch (err) {
      session.signOut();
      setError(err instanceof ApiProblem ? `${err.code}: ${err.message}` : String(err));
    }
  };
  return (
    <main class="sign-in">
      <h1>Uproll</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">Token</label>
        <p class="hint">
          From <code>uproll api token --role release|security|viewer --subject NAME</code>
        </p>
        <textarea
          id="token"
          rows={4}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          required
        />
        <button type="submit">Sign in</button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Problem({ error }: { error: ApiProblem }) {
  return (
    <p role="alert" class="error">
      {error.code}: {error.message}
    </p>
  );
}

function FleetPage() {
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

function RolloutsPage() {
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

const CONTROLS = {
  pause: ['running'],
  resume: ['paused'],
  abort: ['running', 'paused'],
} as const;

function RolloutPage({ rolloutId }: { rolloutId: string }) {
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

function DevicePage({ deviceId }: { deviceId: string }) {
  const path = `/devices/${encodeURIComponent(deviceId)}`;
  const { data, error } = useLive(() => api<DeviceHistory>(path), 'devices', [deviceId]);
  if (error) return <Problem error={error} />;
  if (!data) return <p>Loading…</p>;
  const device = data.device ?? {};
  const failure = device['error'] as { code: string; message: string } | undefined;
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
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Rollout</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {[...data.timeline].reverse().map(({ sequence, event }) => (
            <tr key={sequence}>
              <td>{event.at}</td>
              <td>{event.type}</td>
              <td>{typeof event.data['rolloutId'] === 'string' ? event.data['rolloutId'] : ''}</td>
              <td class="why">{detailOf(event.data)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** One line of what an event says: its summary, else its error, else its revision. */
function detailOf(data: Record<string, unknown>): string {
  const error = data['error'] as { code?: string; message?: string } | undefined;
  if (typeof data['summary'] === 'string') return data['summary'];
  if (error?.code) return `${error.code}: ${error.message ?? ''}`;
  return typeof data['revision'] === 'string' ? data['revision'] : '';
}

/** The start form's fields, as typed. */
interface StartFields {
  rolloutId: string;
  revision: string;
  targetKind: 'hardwareId' | 'tag' | 'devices';
  target: string;
  canary: string;
  waves: string;
  maxFailureRate: string;
}

function requestOf(fields: StartFields) {
  const target =
    fields.targetKind === 'devices'
      ? { devices: fields.target.split(/[\s,]+/).filter(Boolean) }
      : { [fields.targetKind]: fields.target.trim() };
  const policy = {
    canary: Number(fields.canary),
    waves: { percentages: fields.waves.split(',').map((p) => Number(p.trim())) },
    gate: { maxFailureRate: Number(fields.maxFailureRate) },
  };
  return { target, policy };
}

/** A rollout's start: its plan (a dry run) shown first, then started after a confirm. */
function StartPage() {
  const [fields, setFields] = useState<StartFields>({
    rolloutId: '',
    revision: '',
    targetKind: 'hardwareId',
    target: '',
    canary: '1',
    waves: '10,50,100',
    maxFailureRate: '0.1',
  });
  const [plan, setPlan] = useState<string[][]>();
  const [problem, setProblem] = useState<ApiProblem>();
  const field = (name: keyof StartFields, label: string) => (
    <label>
      {label}
      <input
        name={name}
        value={fields[name]}
        required
        onInput={(e) => {
          setFields({ ...fields, [name]: e.currentTarget.value });
          setPlan(undefined);
        }}
      />
    </label>
  );
  const showPlan = async () => {
    try {
      setPlan(
        (await api<{ waves: string[][] }>('/rollouts/plan', { method: 'POST', body: requestOf(fields) }))
          .waves,
      );
      setProblem(undefined);
    } catch (err) {
      setProblem(err as ApiProblem);
    }
  };
  const start = async () => {
    if (!confirm(`Start rollout ${fields.rolloutId} of ${fields.revision}?`)) return;
    try {
      const body = { rolloutId: fields.rolloutId, revision: fields.revision, ...requestOf(fields) };
      await api('/rollouts', { method: 'POST', body });
      location.hash = `#/rollouts/${encodeURIComponent(fields.rolloutId)}`;
    } catch (err) {
      setProblem(err as ApiProblem);
    }
  };
  return (
    <section aria-labelledby="start-title">
      <h2 id="start-title">Start a rollout</h2>
      <form class="start" onSubmit={(e) => (e.preventDefault(), void showPlan())}>
        {field('rolloutId', 'Rollout id')}
        {field('revision', 'Revision')}
        <div class="field">
          <label for="targetKind">Target</label>
          <select
            id="targetKind"
            value={fields.targetKind}
            onChange={(e) =>
              setFields({ ...fields, targetKind: e.currentTarget.value as StartFields['targetKind'] })
            }
          >
            <option value="hardwareId">hardware id</option>
            <option value="tag">tag</option>
            <option value="devices">devices (comma list)</option>
          </select>
        </div>
        {field('target', 'Hardware id, tag or devices')}
        {field('canary', 'Canary devices')}
        {field('waves', 'Waves (cumulative %)')}
        {field('maxFailureRate', 'Failure rate the gate allows (0..1)')}
        <button type="submit">Show the plan</button>
      </form>
      {problem && <Problem error={problem} />}
      {plan && (
        <>
          <h3>Plan</h3>
          <ol class="waves" data-testid="plan">
            {plan.map((wave, index) => (
              <li key={index}>
                wave {index}
                {index === 0 ? ' (canary)' : ''}: {wave.length} {wave.length === 1 ? 'device' : 'devices'}{' '}
                <span class="hint">
                  {wave.slice(0, 3).join(', ')}
                  {wave.length > 3 ? ', …' : ''}
                </span>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => void start()}>
            Start
          </button>
        </>
      )}
    </section>
  );
}

function KeysPage() {
  const [state, setState] = useState<{ keys?: Key[]; error?: ApiProblem }>({});
  useEffect(() => {
    api<Key[]>('/keys').then(
      (keys) => setState({ keys }),
      (error: unknown) => setState({ error: error as ApiProblem }),
    );
  }, []);
  if (state.error) return <Problem error={state.error} />;
  if (!state.keys) return <p>Loading…</p>;
  const now = Date.now();
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">Keys</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Repository</th>
            <th scope="col">Role</th>
            <th scope="col">Kept</th>
            <th scope="col">Expires</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {state.keys.map((key) => {
            const expired = key.expires !== undefined && Date.parse(key.expires) < now;
            const status = key.revoked ? `revoked: ${key.revoked.reason}` : expired ? 'expired' : 'active';
            return (
              <tr key={key.keyId}>
                <td>
                  <code>{key.keyId.slice(0, 16)}</code>
                </td>
                <td>{key.repository}</td>
                <td>{key.role}</td>
                <td>{key.online ? 'online' : 'offline'}</td>
                <td>{key.expires ?? '—'}</td>
                <td>{status}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const route = useRoute();
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const [page, id] = route;
  return (
    <>
      <header>
        <h1>Uproll</h1>
        <nav aria-label="main">
          <a href="#/">Fleet</a>
          <a href="#/rollouts">Rollouts</a>
          <a href="#/keys">Keys</a>
        </nav>
        <button
          type="button"
          class="sign-out"
          onClick={() => {
            session.signOut();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {page === 'rollouts' && id === 'new' ? (
          <StartPage />
        ) : page === 'rollouts' && id ? (
          <RolloutPage rolloutId={decodeURIComponent(id)} />
        ) : page === 'rollouts' ? (
          <RolloutsPage />
        ) : page === 'devices' && id ? (
          <DevicePage deviceId={decodeURIComponent(id)} />
        ) : page === 'keys' ? (
          <KeysPage />
        ) : (
          <FleetPage />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
