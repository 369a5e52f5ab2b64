/**
 * `GET /metrics` in Prometheus text format, with prom-client. What is counted as it happens: API
 * operations (by transport, operation and outcome) and their latency, disconnects (by gateway and
 * outcome) and their latency, refusals (rate limits, caps), open WebSocket and SSE streams. What is
 * read when Prometheus scrapes: sessions online, link state, daemon liveness, last heard and wire
 * state of every gateway (one `core.gateways` call), each webhook endpoint's queue (one grouped
 * query), store and bus readiness, and the process's own metrics (CPU, memory, event-loop lag, handles).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CoreApi, DisconnectOptions, DisconnectResult } from '../core/api-types.js';
import type { ReadinessReport } from '../core/readiness.js';
import type { Actor } from '../domain/actor.js';
import { isDomainError } from '../domain/errors.js';

/** Latency buckets in seconds: a disconnect takes milliseconds, a stalled gateway up to its deadline. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Who reads gateways for a scrape: it can see what `sessions:read` sees, and do nothing. */
const SCRAPER: Actor = { tokenId: null, name: 'metrics', scopes: ['sessions:read'], ip: null, userAgent: null };

export interface Metrics {
  readonly registry: Registry;
  /**
   * One API operation answered: `transport` http|ws|sse, `operation` its root fields, `outcome` OK or
   * an error code. `seconds` null: counted, not timed (a subscription, counted when it starts).
   */
  observeOperation(transport: string, operation: string, outcome: string, seconds: number | null): void;
  /** One WebSocket or SSE stream opened; call the function it returns when it closes. */
  openStream(transport: 'ws' | 'sse'): () => void;
  /** A request refused before it ran: `reason` RATE_LIMITED, TOO_MANY_STREAMS, … */
  countRefusal(transport: string, reason: string): void;
  /** An HTTP read answered with a kept answer (response-cache.ts), by operation; it counts as an operation too. */
  countKeptAnswer(operation: string): void;
  /** The core, with every disconnect timed by gateway and outcome. */
  instrument(core: CoreApi): CoreApi;
  /** Serves the text format. */
  serve(req: IncomingMessage, res: ServerResponse): Promise<number>;
}

export function createMetrics(o: { readiness?: () => Promise<ReadinessReport>; core: () => CoreApi }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const operations = new Counter({
    name: 'switchboard_api_operations_total',
    help: 'API operations by transport, operation (root fields) and outcome (OK or the first error code).',
    labelNames: ['transport', 'operation', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'switchboard_api_operation_duration_seconds',
    help: 'API operation latency by transport, operation and outcome.',
    labelNames: ['transport', 'operation', 'outcome'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const keptAnswers = new Counter({
    name: 'switchboard_api_kept_answers_total',
    help: 'HTTP reads answered with the bytes kept from an identical read at the same version of the sessions and gateways, by operation.',
    labelNames: ['operation'],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'switchboard_api_refusals_total',
    help: 'Requests refused before they ran, by transport and reason (RATE_LIMITED, TOO_MANY_*, UNAUTHENTICATED).',
    labelNames: ['transport', 'reason'],
    registers: [registry],
  });
  const disconnects = new Histogram({
    name: 'switchboard_disconnect_duration_seconds',
    help: 'Single-session disconnects, end to end inside the server, by gateway and outcome (DISCONNECTED or the error code, with the 503 kind).',
    labelNames: ['gateway', 'outcome'],
    buckets: BUCKETS,
    registers: [registry],
  });

  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const online = gauge('switchboard_gateway_sessions_online', 'Sessions online per gateway, as the store holds them.', [
    'gateway',
  ]);
  const linked = gauge(
    'switchboard_gateway_agent_connected',
    "1 when the gateway's agent holds its daemon's control connection and was heard from recently.",
    ['gateway'],
  );
  const heard = gauge(
    'switchboard_gateway_last_heard_seconds',
    "Seconds since the gateway's agent was last heard from (absent when never).",
    ['gateway'],
  );
  const degraded = gauge(
    'switchboard_gateway_degraded',
    "1 when the gateway's reports are refused (an agent speaking another wire version).",
    ['gateway'],
  );
  const rejected = gauge(
    'switchboard_gateway_rejected_reports',
    "Reports from the gateway's subject dropped by this replica since it started.",
    ['gateway'],
  );
  const responding = gauge(
    'switchboard_gateway_daemon_responding',
    "1 when the gateway's daemon answers its agent's liveness probe (0 too while no agent holds it).",
    ['gateway'],
  );
  const queued = gauge(
    'switchboard_webhook_queue_depth',
    'Webhook deliveries waiting (PENDING) per endpoint (webhook id).',
    ['webhook'],
  );
  const queueAge = gauge(
    'switchboard_webhook_queue_oldest_seconds',
    'Age of the oldest waiting delivery per endpoint (absent when none waits).',
    ['webhook'],
  );
  const streams = gauge('switchboard_api_open_streams', 'WebSocket connections and SSE streams open on this replica.', [
    'transport',
  ]);
  streams.set({ transport: 'ws' }, 0);
  streams.set({ transport: 'sse' }, 0);
  const ready = gauge('switchboard_ready', '1 when the store, migrations and bus checks of /readyz pass.');
  const check = gauge('switchboard_readiness_check', '1 when that readiness check passes (store, migrations, bus).', [
    'check',
  ]);

  async function collectGateways(): Promise<void> {
    const now = Date.now();
    for (const g of [online, linked, responding, heard, degraded, rejected]) g.reset();
    for (const g of await o.core().gateways(SCRAPER)) {
      online.set({ gateway: g.id }, g.sessionsOnline);
      linked.set({ gateway: g.id }, g.agentConnected ? 1 : 0);
      responding.set({ gateway: g.id }, g.daemonResponding ? 1 : 0);
      if (g.lastSeenAt !== null) heard.set({ gateway: g.id }, Math.max(0, (now - g.lastSeenAt) / 1000));
      degraded.set({ gateway: g.id }, g.degradedReason ? 1 : 0);
      rejected.set({ gateway: g.id }, g.rejectedReports ?? 0);
    }
  }

  async function collectWebhooks(): Promise<void> {
    const now = Date.now();
    const backlog = await o.core().webhookBacklog(SCRAPER);
    queued.reset();
    queueAge.reset();
    for (const w of backlog) {
      queued.set({ webhook: w.webhookId }, w.pending);
      queueAge.set({ webhook: w.webhookId }, Math.max(0, (now - w.oldestCreatedAt) / 1000));
    }
  }

  async function collectReadiness(): Promise<void> {
    if (!o.readiness) return;
    const report = await o.readiness();
    ready.set(report.ready ? 1 : 0);
    check.reset();
    for (const [name, value] of Object.entries(report.checks)) check.set({ check: name }, isPassing(value) ? 1 : 0);
  }

  return {
    registry,
    observeOperation(transport, operation, outcome, seconds) {
      operations.inc({ transport, operation, outcome });
      if (seconds !== null) latency.observe({ transport, operation, outcome }, seconds);
    },
    openStream(transport) {
      streams.inc({ transport });
      let open = true;
      return () => {
        if (open) streams.dec({ transport });
        open = false;
      };
    },
    countRefusal(transport, reason) {
      refusals.inc({ transport, reason });
    },
    countKeptAnswer(operation) {
      keptAnswers.inc({ operation });
    },
    instrument(core) {
      // A `then` on the core's promise, not an async function awaiting it: one promise fewer per disconnect.
      const disconnect = (actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult> => {
        const started = performance.now();
        const failed = (e: unknown): never => {
          disconnects.observe({ gateway: gatewayOf(e), outcome: outcomeOf(e) }, (performance.now() - started) / 1000);
          throw e;
        };
        let result: Promise<DisconnectResult>;
        try {
          result = core.disconnect(actor, sessionId, options);
        } catch (e) {
          return Promise.reject(e).catch(failed);
        }
        return result.then((r) => {
          disconnects.observe(
            { gateway: r.session.gatewayId, outcome: r.outcome },
            (performance.now() - started) / 1000,
          );
          return r;
        }, failed);
      };
      // Every other method runs on the core itself (`this` is the core, so no state can split
      // between two objects), bound once per method rather than on every call.
      const bound = new Map<PropertyKey, unknown>();
      return new Proxy(core, {
        get(target, prop) {
          if (prop === 'disconnect') return disconnect;
          const value: unknown = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          if (!bound.has(prop)) bound.set(prop, value.bind(target));
          return bound.get(prop);
        },
      });
    },
    async serve(_req, res) {
      // A scrape never fails because one source did: what could be read is served.
      await Promise.allSettled([collectGateways(), collectWebhooks(), collectReadiness()]);
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body);
      return 200;
    },
  };
}

/** Root fields of an operation, as `disconnectBySessionId` or `gateways+onlineSessions`; `invalid` when it did not parse or validate. */
export function operationLabel(
  operation: { document: DocumentNode; operationName: string | undefined } | null | undefined,
): string {
  if (!operation) return 'invalid';
  let label = labels.get(operation.document)?.get(operation.operationName ?? '');
  if (label !== undefined) return label;
  const def = operation.document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION &&
      (operation.operationName === undefined || d.name?.value === operation.operationName),
  );
  const fields = def?.selectionSet.selections.map((s) => (s.kind === Kind.FIELD ? s.name.value : '…')) ?? [];
  // Bounded: a label is the set of root fields (at most the schema's), never an alias or a value.
  label = [...new Set(fields)].sort().join('+').slice(0, 200) || 'invalid';
  const byName = labels.get(operation.document) ?? new Map<string, string>();
  byName.set(operation.operationName ?? '', label);
  labels.set(operation.document, byName);
  return label;
}
const labels = new WeakMap<DocumentNode, Map<string, string>>();

/** `OK`, or the first error's code in a response body (cheap: only error bodies are searched). */
export function outcomeLabel(body: string | null | undefined): string {
  if (!body || !body.includes('"errors"')) return 'OK';
  return /"code":"([A-Z_]{1,40})"/.exec(body)?.[1] ?? 'ERROR';
}

/** `OK`, or the first error's code of a result as the API shows it. */
export function resultOutcome(result: {
  errors?: readonly { extensions?: Record<string, unknown> }[] | undefined;
}): string {
  const code = result.errors?.[0]?.extensions?.code;
  if (result.errors === undefined || result.errors.length === 0) return 'OK';
  return typeof code === 'string' ? code : 'ERROR';
}

/** A readiness check's value: `true`/`"ok"`, or an object with `ok`. */
function isPassing(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value === 'ok';
  if (value && typeof value === 'object' && 'ok' in value) return (value as { ok: unknown }).ok === true;
  return false;
}

function outcomeOf(e: unknown): string {
  if (!isDomainError(e)) return 'INTERNAL';
  const kind = (e as { extensions?: Record<string, unknown> }).extensions?.disconnect;
  return typeof kind === 'string' ? `${e.code}:${kind}` : e.code;
}

function gatewayOf(e: unknown): string {
  const id = (e as { extensions?: Record<string, unknown> } | null)?.extensions?.gatewayId;
  return typeof id === 'string' ? id : 'unknown';
}
