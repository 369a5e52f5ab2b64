/**
 * The API tokens as a table, or at phone width as cards (shell/record-cards.tsx): the same cells and
 * the same Revoke… that asks first, in place.
 */
import type { TokenRow } from '../api/operations.js';
import { absolute, zoneName } from '../format.js';
import { CardList, RecordCard } from '../shell/record-cards.js';
import { DataTable } from '../shell/data-table.js';

type TokenState = 'revoked' | 'expired' | 'active';

function stateOf(t: TokenRow, now: number): TokenState {
  if (t.revokedAt !== null) return 'revoked';
  return t.expiresAt !== null && Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
}

interface TokenRowsProps {
  tokens: TokenRow[];
  now: number;
  phone: boolean;
  /** The token whose Revoke… is asking for confirmation. */
  confirming: string | null;
  onConfirm: (id: string | null) => void;
  onRevoke: (t: TokenRow) => void;
}

/** A token's name, with its prefix and id below it: the head of its row and of its card. */
function TokenName({ t }: { t: TokenRow }) {
  return (
    <>
      {t.name}
      <span className="muted small block mono">
        {t.prefix}… · {t.id}
      </span>
    </>
  );
}

export function TokenRows(props: TokenRowsProps) {
  return props.phone ? <TokenCards {...props} /> : <TokenTable {...props} />;
}

function StateBadge({ state }: { state: TokenState }) {
  return <span className={`badge ${state === 'active' ? 'ok' : 'bad'}`}>{state}</span>;
}

/** Revoke… for an active token; once pressed, the question and its two answers in its place. */
function Revoke({ t, confirming, onConfirm, onRevoke }: { t: TokenRow } & TokenRowsProps) {
  if (confirming === t.id)
    return (
      <span className="confirm">
        Revoke {t.name}?{' '}
        <button type="button" className="danger small" onClick={() => onRevoke(t)}>
          Revoke
        </button>{' '}
        <button type="button" className="small" onClick={() => onConfirm(null)} autoFocus>
          Cancel
        </button>
      </span>
    );
  return (
    <button
      type="button"
      className="danger-quiet small"
      onClick={() => onConfirm(t.id)}
      aria-label={`Revoke ${t.name}…`}
    >
      Revoke…
    </button>
  );
}

function TokenCards(props: TokenRowsProps) {
  return (
    <CardList label="API tokens">
      {props.tokens.map((t) => {
        const state = stateOf(t, props.now);
        return (
          <RecordCard
            key={t.id}
            data={{ 'data-token-id': t.id, 'data-state': state }}
            head={
              <>
                <span className="card-title">
                  <TokenName t={t} />
                </span>
                <StateBadge state={state} />
              </>
            }
            facts={[
              { label: 'Scopes', value: t.scopes.join(', ') },
              { label: `Created (${zoneName()})`, value: absolute(t.createdAt) },
              { label: 'Expires', value: t.expiresAt === null ? 'never' : absolute(t.expiresAt) },
              { label: 'Last used', value: absolute(t.lastUsedAt) },
            ]}
            actions={state === 'active' && <Revoke t={t} {...props} />}
          />
        );
      })}
    </CardList>
  );
}

function TokenTable(props: TokenRowsProps) {
  return (
    <DataTable
      label="API tokens"
      columns={[
        'Name',
        'Scopes',
        'State',
        `Created (${zoneName()})`,
        'Expires',
        'Last used',
        { label: 'Actions', hidden: true },
      ]}
    >
      <tbody>
        {props.tokens.map((t) => {
          const state = stateOf(t, props.now);
          return (
            <tr key={t.id} data-token-id={t.id} data-state={state}>
              <th scope="row">
                <TokenName t={t} />
              </th>
              <td>{t.scopes.join(', ')}</td>
              <td>
                <StateBadge state={state} />
              </td>
              <td>{absolute(t.createdAt)}</td>
              <td>{t.expiresAt === null ? 'never' : absolute(t.expiresAt)}</td>
              <td>{absolute(t.lastUsedAt)}</td>
              <td>{state === 'active' && <Revoke t={t} {...props} />}</td>
            </tr>
          );
        })}
      </tbody>
    </DataTable>
  );
}
