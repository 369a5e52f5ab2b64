/**
 * What every resolver receives: the core, the authenticated actor, and per-request memos. One is made
 * per request, after authentication and before execution.
 */
import type { Logger } from '../domain/logger.js';
import type { Actor } from '../domain/actor.js';
import type { CoreApi, GatewayStatus } from '../core/api-types.js';
import type { PreparedOperation } from './document-cache.js';

/** The response media type the client accepted (GraphQL over HTTP); decides some statuses. */
export type ResponseMediaType = 'application/json' | 'application/graphql-response+json';

/** The GraphQL context value, also the graphql-http request context. */
export type ApiContext = {
  readonly core: CoreApi;
  readonly actor: Actor;
  readonly logger: Logger;
  readonly mediaType: ResponseMediaType;
  /** The operation to run, set once the document is parsed and validated (or found in the cache). */
  operation: PreparedOperation | null;
  /** `OK` or the first error's code, once the operation ran (unset when the request was refused before). */
  outcome: string | undefined;
  /**
   * The earliest `liveUntil` of the gateways this request read: after it, one of them would read as
   * not connected, so its answer may be kept only until then (response-cache.ts).
   */
  liveUntil: number;
  /** Notes a gateway's `liveUntil` (see above). */
  sawGateway(g: GatewayStatus | null): void;
  /**
   * A gateway's status, memoised for this request: a page of 500 sessions on three gateways asks for
   * three, and concurrent resolvers share the pending one. The ids asked for while the resolvers of
   * one pass run are read together (`core.gatewayStatuses`): a page of 50 sessions on 50 gateways is
   * one store read, not 50 (on PostgreSQL, 50 round trips that took the pool's connections in turn).
   */
  gateway(id: string): Promise<GatewayStatus | null>;
  /** Gateways already read (with a page of sessions): `gateway(id)` answers these without a read. */
  knowGateways(statuses: readonly GatewayStatus[]): void;
};

class RequestContext implements ApiContext {
  operation: PreparedOperation | null = null;
  outcome: string | undefined = undefined;
  liveUntil = Infinity;
  private gateways: Map<string, Promise<GatewayStatus | null>> | null = null;
  private known: Map<string, GatewayStatus> | null = null;
  /** The ids asked for since the last read began; read together once the current pass of resolvers ends. */
  private batch: { ids: string[]; read: Promise<(GatewayStatus | null)[]> } | null = null;

  constructor(
    readonly core: CoreApi,
    readonly actor: Actor,
    readonly logger: Logger,
    readonly mediaType: ResponseMediaType,
  ) {}

  gateway(id: string): Promise<GatewayStatus | null> {
    this.gateways ??= new Map();
    let pending = this.gateways.get(id);
    const known = pending === undefined ? this.known?.get(id) : undefined;
    if (known !== undefined) {
      this.sawGateway(known);
      pending = Promise.resolve(known);
      this.gateways.set(id, pending);
    } else if (pending === undefined) {
      const batch = (this.batch ??= this.nextBatch());
      const i = batch.ids.push(id) - 1;
      pending = batch.read.then((found) => {
        const g = found[i] ?? null;
        this.sawGateway(g);
        return g;
      });
      this.gateways.set(id, pending);
    }
    return pending;
  }

  knowGateways(statuses: readonly GatewayStatus[]): void {
    this.known ??= new Map();
    for (const g of statuses) this.known.set(g.id, g);
  }

  /** A read that starts in a microtask, when the resolvers that run now have all asked. */
  private nextBatch(): { ids: string[]; read: Promise<(GatewayStatus | null)[]> } {
    const ids: string[] = [];
    const read = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => {
      // Ids asked for from here on go into the next read.
      this.batch = null;
      return this.core.gatewayStatuses(this.actor, ids);
    });
    return { ids, read };
  }

  sawGateway(g: GatewayStatus | null): void {
    if (g?.liveUntil != null && g.liveUntil < this.liveUntil) this.liveUntil = g.liveUntil;
  }
}

export function createContext(core: CoreApi, actor: Actor, logger: Logger, mediaType: ResponseMediaType): ApiContext {
  return new RequestContext(core, actor, logger, mediaType);
}

/**
 * The media type graphql-http will answer with, decided the same way it does: the first acceptable
 * entry of `Accept` wins; a missing header means `application/json`.
 */
export function responseMediaType(accept: string | undefined): ResponseMediaType {
  if (accept === undefined || accept === '' || accept === '*/*' || accept === 'application/json')
    return 'application/json';
  for (const entry of accept.replace(/\s/g, '').toLowerCase().split(',')) {
    const [type, ...params] = entry.split(';');
    const charset = params.find((p) => p.includes('charset=')) ?? 'charset=utf-8';
    if (type === 'application/graphql-response+json' && charset === 'charset=utf-8')
      return 'application/graphql-response+json';
    if (type === 'application/json' || type === 'application/*' || type === '*/*') return 'application/json';
  }
  return 'application/json';
}
