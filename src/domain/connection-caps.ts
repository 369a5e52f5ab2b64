/** Caps on long-lived connections as configured (`SWITCHBOARD_MAX_…`); each refusal has its own code. */
export interface ConnectionCaps {
  /** Operations in flight on one WebSocket (subscriptions, and queries not yet answered): TOO_MANY_SUBSCRIPTIONS. */
  subscriptionsPerSocket: number;
  /** WebSockets plus SSE requests open at once per token, on this replica: TOO_MANY_STREAMS. */
  streamsPerToken: number;
  /** TCP connections to the API server at once, on this replica: TOO_MANY_CONNECTIONS. */
  connections: number;
}

/** Defaults of the caps (also those of the configuration). */
export const DEFAULT_CAPS: Readonly<ConnectionCaps> = {
  subscriptionsPerSocket: 100,
  streamsPerToken: 100,
  connections: 10_000,
};
