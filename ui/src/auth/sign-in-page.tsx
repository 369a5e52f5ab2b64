/** Sign-in: paste an API token; it is checked with `viewer` before anything else is shown. */
import { useState, type FormEvent } from 'react';
import { explain, gql } from '../api/graphql-client.js';
import { VIEWER, type Viewer } from '../api/operations.js';

export function SignInPage(props: { onSignedIn: (token: string, viewer: Viewer) => void; notice: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(props.notice);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const t = token.trim();
    if (t === '') {
      setError('Paste an API token first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { viewer } = await gql<{ viewer: Viewer }>(t, VIEWER);
      props.onSignedIn(t, viewer);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1>Switchboard</h1>
      <p className="muted">Operator console: see who is online, end a session.</p>
      <form onSubmit={submit} aria-describedby="token-help">
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error !== null}
          aria-errormessage={error !== null ? 'sign-in-error' : undefined}
          autoFocus
        />
        <p id="token-help" className="muted small">
          Create one on the server with{' '}
          <code className="command">
            npx switchboard token create --name oncall --scope sessions:disconnect --expires-in 12h
          </code>{' '}
          (<code>--scope admin</code> for everything). It is kept in this browser tab only and forgotten when the tab
          closes.
        </p>
        {error !== null && (
          <p id="sign-in-error" role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
