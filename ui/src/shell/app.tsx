/** The console: sign-in, then a header with the token's scopes and the pages it may open. */
import { useCallback, useEffect, useMemo, useState } from 'react';
import { explain, gql } from '../api/graphql-client.js';
import { VIEWER, type Viewer } from '../api/operations.js';
import { AuditPage } from '../audit/audit-page.js';
import { BlocksPage } from '../blocks/blocks-page.js';
import { can } from '../auth/scopes.js';
import { SignInPage } from '../auth/sign-in-page.js';
import { clearToken, loadToken, saveToken } from '../auth/token-store.js';
import { GatewaysPage } from '../gateways/gateways-page.js';
import { HistoryPage } from '../history/history-page.js';
import { SessionsPage } from '../sessions/sessions-page.js';
import { TokensPage } from '../tokens/tokens-page.js';
import type { Auth } from '../auth/auth.js';
import { navigate, useRoute, type Route } from './router.js';
import { useTheme, type ThemeChoice } from './theme.js';

const PAGES: { route: Route; label: string; needs: 'sessions:read' | 'audit:read' | 'admin' }[] = [
  { route: 'sessions', label: 'Sessions', needs: 'sessions:read' },
  { route: 'gateways', label: 'Gateways', needs: 'sessions:read' },
  { route: 'blocks', label: 'Blocks', needs: 'sessions:read' },
  { route: 'history', label: 'History', needs: 'sessions:read' },
  { route: 'audit', label: 'Audit', needs: 'audit:read' },
  { route: 'tokens', label: 'Tokens', needs: 'admin' },
];

export function App() {
  const [auth, setAuth] = useState<{ token: string; viewer: Viewer } | null>(null);
  const [restoring, setRestoring] = useState(() => loadToken() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();
  const [theme, setTheme] = useTheme();

  const signOut = useCallback((message?: string) => {
    clearToken();
    setAuth(null);
    setNotice(message ?? null);
  }, []);

  // One Auth object per sign-in: pages key their effects on it.
  const signedIn = useMemo<Auth | null>(() => (auth === null ? null : { ...auth, signOut }), [auth, signOut]);

  // A reload in the same tab: check the kept token again before showing anything.
  useEffect(() => {
    const kept = loadToken();
    if (kept === null) return;
    gql<{ viewer: Viewer }>(kept, VIEWER)
      .then(({ viewer }) => setAuth({ token: kept, viewer }))
      .catch((e: unknown) => signOut(explain(e)))
      .finally(() => setRestoring(false));
  }, [signOut]);

  if (restoring)
    return (
      <p className="loading" role="status">
        Checking your token…
      </p>
    );
  if (auth === null || signedIn === null) {
    return (
      <SignInPage
        notice={notice}
        onSignedIn={(token, viewer) => {
          saveToken(token);
          setNotice(null);
          setAuth({ token, viewer });
        }}
      />
    );
  }

  const pages = PAGES.filter((p) => can(auth.viewer.scopes, p.needs));
  const shown = pages.find((p) => p.route === route) ?? pages[0];

  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Switchboard</span>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <a
              key={p.route}
              href={`/${p.route}`}
              aria-current={shown?.route === p.route ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(p.route);
              }}
            >
              {p.label}
            </a>
          ))}
        </nav>
        <div className="who" aria-label="Signed in as">
          <span className="token-name">{auth.viewer.name}</span>
          <ul className="scopes" aria-label="Scopes of this token">
            {auth.viewer.scopes.map((s) => (
              <li key={s} className="scope">
                {s}
              </li>
            ))}
          </ul>
          <label className="theme-choice">
            <span className="sr-only">Colour theme</span>
            <select value={theme} onChange={(e) => setTheme(e.target.value as ThemeChoice)} aria-label="Colour theme">
              <option value="system">System theme</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {shown === undefined && (
          <p role="alert" className="error">
            This token has no scope that the console can show (it needs sessions:read or audit:read).
          </p>
        )}
        {shown?.route === 'sessions' && <SessionsPage auth={signedIn} />}
        {shown?.route === 'gateways' && <GatewaysPage auth={signedIn} />}
        {shown?.route === 'blocks' && <BlocksPage auth={signedIn} />}
        {shown?.route === 'history' && <HistoryPage auth={signedIn} />}
        {shown?.route === 'audit' && <AuditPage auth={signedIn} />}
        {shown?.route === 'tokens' && <TokensPage auth={signedIn} />}
      </main>
    </div>
  );
}
