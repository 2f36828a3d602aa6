import { useState } from 'preact/hooks';
import { api, type ApiProblem } from '../api.ts';
import { Problem } from '../parts.tsx';

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
export function StartPage() {
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
