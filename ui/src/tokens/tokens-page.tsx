/**
 * Tokens (admin): every API token with its scopes, lifetime and last use; create one (the secret is
 * shown once, here); revoke one after a confirmation. The API refuses revoking the last admin token
 * (LAST_ADMIN_TOKEN), and the page says so. The list is a table, or cards at phone width (token-rows.tsx).
 */
import { useState, type FormEvent } from 'react';
import { explain, gql } from '../api/graphql-client.js';
import { CREATE_TOKEN, REVOKE_TOKEN, TOKENS, type TokenRow } from '../api/operations.js';
import { guarded, type Auth } from '../auth/auth.js';
import { PHONE, useMedia } from '../shell/use-media.js';
import { usePoll } from '../shell/use-poll.js';
import { TokenRows } from './token-rows.js';

const SCOPES = ['admin', 'sessions:read', 'sessions:disconnect', 'audit:read'];
const LIFETIMES = [
  ['12h', '12 hours'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['', 'never expires'],
];

export function TokensPage({ auth }: { auth: Auth }) {
  const [tokens, setTokens] = useState<TokenRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['sessions:read']);
  const [expiresIn, setExpiresIn] = useState('12h');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const now = Date.now();
  const phone = useMedia(PHONE);

  const reload = async () => {
    const r = await guarded(auth, () => gql<{ tokens: TokenRow[] }>(auth.token, TOKENS));
    if (r.ok) setTokens(r.value.tokens);
    else setError(r.error);
  };
  usePoll(reload, 15_000, [auth.token]);

  async function create(e: FormEvent) {
    e.preventDefault();
    setNotice(null);
    const r = await guarded(auth, () =>
      gql<{ createToken: { secret: string; token: TokenRow } }>(auth.token, CREATE_TOKEN, {
        input: { name: name.trim(), scopes, expiresIn: expiresIn || null },
      }),
    );
    if (!r.ok) return setNotice(r.error);
    setCreated({ name: r.value.createToken.token.name, secret: r.value.createToken.secret });
    setName('');
    await reload();
  }

  async function revoke(t: TokenRow) {
    setConfirming(null);
    try {
      await gql(auth.token, REVOKE_TOKEN, { id: t.id });
      setNotice(`Revoked ${t.name} (${t.prefix}…): it is refused from now on.`);
    } catch (err) {
      setNotice(`Not revoked: ${explain(err)}`);
    }
    await reload();
  }

  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">API tokens</h1>
      <form className="filters" onSubmit={create} aria-label="Create a token">
        <div className="field">
          <label htmlFor="t-name">Name</label>
          <input
            id="t-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={100}
            required
            autoComplete="off"
          />
        </div>
        <fieldset className="field scopes-choice">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="inline">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              {s}
            </label>
          ))}
        </fieldset>
        <div className="field">
          <label htmlFor="t-expires">Expires in</label>
          <select id="t-expires" value={expiresIn} onChange={(e) => setExpiresIn(e.target.value)}>
            {LIFETIMES.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div className="field buttons">
          <button type="submit" className="primary" disabled={scopes.length === 0 || name.trim() === ''}>
            Create token
          </button>
        </div>
      </form>
      {created !== null && (
        <div role="status" className="outcome ok secret-once">
          <p>Token {created.name} created. Copy it now: it is shown only once, here.</p>
          <code className="command" aria-label="The new token">
            {created.secret}
          </code>
          <button type="button" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      {notice !== null && (
        <p role="status" className="outcome warn">
          {notice}
        </p>
      )}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {tokens !== null && (
        <TokenRows
          tokens={tokens}
          now={now}
          phone={phone}
          confirming={confirming}
          onConfirm={setConfirming}
          onRevoke={(t) => void revoke(t)}
        />
      )}
    </section>
  );
}
