/**
 * The one logging surface every part writes to, in pino's call shape (`logger.info(obj, msg)`), so a
 * pino logger fits without any part but main.ts depending on pino. Secrets never go through it.
 */
export interface Logger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a line at `level` would be written (to skip work that only a log line needs). */
  isLevelEnabled(level: string): boolean;
}

/** Writes nothing: for commands and tests that want no log. */
export const silentLogger: Logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
  isLevelEnabled: () => false,
};

/** The logger for work done on behalf of `actor`: its lines carry the request's id when it has one. */
export function loggerFor(logger: Logger, actor: { requestId?: string }): Logger {
  return actor.requestId === undefined ? logger : logger.child({ requestId: actor.requestId });
}
