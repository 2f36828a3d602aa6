import { useEffect, useState } from 'preact/hooks';
import { api, type ApiProblem, type Key } from '../api.ts';
import { Problem } from '../parts.tsx';

export function KeysPage() {
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
