/** The NATS connection's life, told to the logger and to whoever watches the bus's health. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../domain/logger.js';

/** Connection changes worth telling a health check or an operator about. */
export type NatsBusStatus =
  | { type: 'disconnected'; server: string }
  | { type: 'reconnected'; server: string }
  | { type: 'error'; error: string }
  | { type: 'closed' };

/**
 * Follows `nc` until it closes: logs what an operator should know and reports disconnects,
 * reconnects, server errors and the final close. `closing()` tells an asked-for close from a loss.
 */
export function watchConnection(
  nc: NatsConnection,
  o: {
    logger: Logger;
    scrub: (text: string) => string;
    closing: () => boolean;
    report: (status: NatsBusStatus) => void;
  },
): void {
  const log = o.logger;
  void nc.closed().then((err) => {
    if (o.closing()) log.debug({}, 'nats bus closed');
    else
      log.error(
        { err: err ? o.scrub(err.message) : undefined },
        'nats bus connection closed for good; bus messages are lost',
      );
    o.report({ type: 'closed' });
  });
  const follow = async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          log.warn({ server: s.server }, 'nats bus disconnected; reconnecting');
          o.report({ type: 'disconnected', server: s.server });
          break;
        case 'reconnect':
          log.info({ server: s.server }, 'nats bus reconnected');
          o.report({ type: 'reconnected', server: s.server });
          break;
        case 'error': {
          const error = o.scrub(s.error.message);
          log.warn({ err: error }, 'nats server reported an error');
          o.report({ type: 'error', error });
          break;
        }
        case 'ldm':
          log.info({ server: s.server }, 'nats server is shutting down (lame duck mode); moving to another');
          break;
        case 'staleConnection':
          log.warn({}, 'nats server stopped answering pings; reconnecting');
          break;
        case 'slowConsumer':
          log.warn(
            { subject: s.sub.getSubject(), pending: s.pending },
            'nats bus subscriber too slow; messages may be dropped',
          );
          break;
        default:
          break; // pings, cluster updates, reconnect attempts: noise
      }
    }
  };
  follow().catch((e: unknown) =>
    log.warn(
      { err: e instanceof Error ? o.scrub(e.message) : String(e) },
      'nats bus stopped following the connection status',
    ),
  );
}
