import { useState } from 'preact/hooks';
import { api, ApiProblem, session } from '../api.ts';

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
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
