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
  /**
   * `core.gateway(actor, id)`, memoised for this request: a page of 500 sessions on three gateways
   * makes three lookups, and concurrent resolvers share the pending one.
   */
  gateway(id: string): Promise<GatewayStatus | null>;
};

class RequestContext implements ApiContext {
  operation: PreparedOperation | null = null;
  private gateways: Map<string, Promise<GatewayStatus | null>> | null = null;

  constructor(
    readonly core: CoreApi,
    readonly actor: Actor,
    readonly logger: Logger,
    readonly mediaType: ResponseMediaType,
  ) {}

  gateway(id: string): Promise<GatewayStatus | null> {
    this.gateways ??= new Map();
    let pending = this.gateways.get(id);
    if (pending === undefined) {
      pending = this.core.gatewayStatus(this.actor, id);
      this.gateways.set(id, pending);
    }
    return pending;
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
