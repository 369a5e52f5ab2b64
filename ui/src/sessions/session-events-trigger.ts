/**
 * The live trigger of the sessions table: the API's `sessionEvents` subscription over WebSocket
 * (graphql-transport-ws on /graphql, the token in `connection_init`). Each event asks the table to
 * re-read its page; when the socket cannot be opened or drops, the caller falls back to polling.
 */
import { createClient, type Client } from 'graphql-ws/client';
import type { SessionFilter } from '../api/operations.js';

const SESSION_EVENTS = `subscription SessionEvents($filter: SessionEventFilter) {
  sessionEvents(filter: $filter) { id type session { id } }
}`;

export interface EventTrigger {
  close(): void;
}

/**
 * Calls `onEvent` for every session event that may touch the filtered table, `onState(true)` once the
 * subscription is acknowledged and `onState(false)` whenever it is not (closed, refused, retrying).
 */
export function subscribeSessionEvents(
  token: string,
  filter: SessionFilter,
  onEvent: () => void,
  onState: (live: boolean) => void,
): EventTrigger {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const client: Client = createClient({
    url,
    connectionParams: { token },
    lazy: false,
    retryAttempts: Infinity,
    // A refused token (4403) is final; everything else (restart, network) is worth retrying.
    shouldRetry: (e) => !(e instanceof CloseEvent && (e.code === 4403 || e.code === 4401)),
    on: {
      closed: () => onState(false),
      error: () => onState(false),
    },
  });
  // The subscription's filter takes only the fields events carry; the table's own query narrows the rest.
  const eventFilter: Record<string, string> = {};
  if (filter.gatewayId) eventFilter.gatewayId = filter.gatewayId;
  if (filter.userName) eventFilter.userName = filter.userName;
  let acknowledged = false;
  const unsubscribe = client.subscribe(
    { query: SESSION_EVENTS, variables: { filter: eventFilter } },
    {
      next: () => onEvent(),
      error: () => onState(false),
      complete: () => onState(false),
    },
  );
  const off = client.on('connected', () => {
    acknowledged = true;
    onState(true);
    // Whatever happened while the socket was down: read the page again.
    onEvent();
  });
  return {
    close() {
      off();
      unsubscribe();
      void client.dispose();
      if (acknowledged) onState(false);
    },
  };
}
