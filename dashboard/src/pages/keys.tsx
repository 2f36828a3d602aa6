import { useEffect, useState } from 'preact/hooks';
import { api, ApiProblem, type CeremonyStatus, type Key, type Root, type SignatureAudit } from '../api.ts';
import { Problem, timeOf } from '../parts.tsx';

/** Signatures shown a page at a time. */
const AUDIT_PAGE = 50;

/** A security team's page: keys and their expiry, each repository's root, the signature audit, a ceremony's progress. */
export function KeysPage() {
  const [state, setState] = useState<{ keys?: Key[]; roots?: Root[]; error?: ApiProblem }>({});
  useEffect(() => {
    Promise.all([api<Key[]>('/keys'), api<Root[]>('/roots')]).then(
      ([keys, roots]) => setState({ keys, roots }),
      (error: unknown) => setState({ error: error as ApiProblem }),
    );
  }, []);
  if (state.error) return <Problem error={state.error} />;
  if (!state.keys || !state.roots) return <p>Loading…</p>;
  const now = Date.now();
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">Keys</h2>
      <table aria-label="keys">
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
      <Roots roots={state.roots} />
      <Ceremony />
      <Audit />
    </section>
  );
}

function Roots({ roots }: { roots: Root[] }) {
  return (
    <>
      <h3>Roots</h3>
      <table aria-label="roots">
        <thead>
          <tr>
            <th scope="col">Repository</th>
            <th scope="col">Version</th>
            <th scope="col">Expires</th>
            <th scope="col">Roles: signatures needed of keys</th>
          </tr>
        </thead>
        <tbody>
          {roots.map((root) => (
            <tr key={root.repository}>
              <td>{root.repository}</td>
              <td>v{root.version}</td>
              <td class={root.daysLeft < 30 ? 'error' : ''}>
                {root.expires.slice(0, 10)} ({root.daysLeft} days)
              </td>
              <td>
                {Object.entries(root.roles)
                  .map(([role, { threshold, keyIds }]) => `${role} ${threshold} of ${keyIds.length}`)
                  .join(', ')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** A root proposal pasted in: how many of the current and of its own root keys have signed it. */
function Ceremony() {
  const [repository, setRepository] = useState('image');
  const [proposal, setProposal] = useState('');
  const [status, setStatus] = useState<CeremonyStatus>();
  const [problem, setProblem] = useState<ApiProblem>();
  const check = async (event: Event) => {
    event.preventDefault();
    try {
      const body: unknown = JSON.parse(proposal);
      setStatus(await api<CeremonyStatus>(`/roots/${repository}/proposal-status`, { method: 'POST', body }));
      setProblem(undefined);
    } catch (err) {
      setStatus(undefined);
      setProblem(
        err instanceof SyntaxError
          ? new ApiProblem(400, 'INVALID_INPUT', 'the proposal is not JSON')
          : (err as ApiProblem),
      );
    }
  };
  return (
    <>
      <h3>Root ceremony</h3>
      <form class="ceremony" onSubmit={(e) => void check(e)}>
        <label for="ceremony-repository">Repository</label>
        <select
          id="ceremony-repository"
          value={repository}
          onChange={(e) => setRepository(e.currentTarget.value)}
        >
          <option value="image">image</option>
          <option value="director">director</option>
        </select>
        <label for="ceremony-proposal">Proposal (the file `uproll keys root propose` wrote)</label>
        <textarea
          id="ceremony-proposal"
          rows={4}
          value={proposal}
          onInput={(e) => setProposal(e.currentTarget.value)}
          required
        />
        <button type="submit">Check the signatures</button>
      </form>
      {problem && <Problem error={problem} />}
      {status && (
        <p role="status" data-testid="ceremony-status">
          root v{status.version}: {status.byCurrentRoot.have} of {status.byCurrentRoot.need} current root
          keys, {status.byProposedRoot.have} of {status.byProposedRoot.need} of its own —{' '}
          {status.complete ? 'ready to publish' : 'needs more signatures'}
        </p>
      )}
    </>
  );
}

/** Every signature made with the key store's keys, newest first. */
function Audit() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<SignatureAudit>();
  const [problem, setProblem] = useState<ApiProblem>();
  useEffect(() => {
    api<SignatureAudit>(`/keys/audit?offset=${offset}&limit=${AUDIT_PAGE}`).then(setPage, (err: unknown) =>
      setProblem(err as ApiProblem),
    );
  }, [offset]);
  if (problem) return <Problem error={problem} />;
  if (!page) return null;
  return (
    <>
      <h3>Signature audit</h3>
      <p class="hint">
        {page.total} signatures; {offset + 1}–{offset + page.signatures.length} shown
      </p>
      <table aria-label="signature audit">
        <thead>
          <tr>
            <th scope="col">When (UTC)</th>
            <th scope="col">Repository</th>
            <th scope="col">Role</th>
            <th scope="col">Key</th>
            <th scope="col">Digest</th>
          </tr>
        </thead>
        <tbody>
          {page.signatures.map((s, i) => (
            <tr key={`${offset + i}`}>
              <td class="when">{timeOf(s.at)}</td>
              <td>{s.repository}</td>
              <td>{s.role}</td>
              <td>
                <code>{s.keyId.slice(0, 16)}</code>
              </td>
              <td>
                <code>sha256:{s.sha256.slice(0, 16)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="controls">
        <button
          type="button"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - AUDIT_PAGE))}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={page.next === null}
          onClick={() => page.next !== null && setOffset(page.next)}
        >
          Older
        </button>
      </div>
    </>
  );
}
