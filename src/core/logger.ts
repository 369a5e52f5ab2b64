/** The logging surface core needs (pino's, reduced); main passes a pino logger. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/** The logger for work done on behalf of `actor`: its lines carry the request's id when it has one. */
export function loggerFor(logger: Logger, actor: { requestId?: string }): Logger {
  return actor.requestId === undefined ? logger : logger.child({ requestId: actor.requestId });
}
