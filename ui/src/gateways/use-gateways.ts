/** The gateways list, re-read every 5 s: the Sessions page's health banner and the Gateways page share it. */
import { useState } from 'react';
import { gql } from '../api/graphql-client.js';
import { GATEWAYS, type GatewayRow } from '../api/operations.js';
import { guarded, type Auth } from '../auth/auth.js';
import { usePoll } from '../shell/use-poll.js';

export const GATEWAYS_POLL_MS = 5000;

export function useGateways(auth: Auth): { gateways: GatewayRow[] | null; error: string | null; readAt: number } {
  const [gateways, setGateways] = useState<GatewayRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [readAt, setReadAt] = useState(Date.now());
  usePoll(
    async () => {
      const r = await guarded(auth, () => gql<{ gateways: GatewayRow[] }>(auth.token, GATEWAYS));
      setReadAt(Date.now());
      if (r.ok) {
        setGateways(r.value.gateways);
        setError(null);
      } else setError(r.error);
    },
    GATEWAYS_POLL_MS,
    [auth.token],
  );
  return { gateways, error, readAt };
}
