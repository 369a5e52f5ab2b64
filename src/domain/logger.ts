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

/**
 * `logger.child(bindings)`, made when its first line is written or asked about: a request that logs
 * nothing (at the default level, nearly every one) builds no child logger. Same lines as the child's.
 */
export function lazyChild(logger: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChild(logger, bindings);
}

type Line = Parameters<Logger['info']>;

class LazyChild implements Logger {
  private made: Logger | null = null;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}
  private get logger(): Logger {
    return (this.made ??= this.parent.child(this.bindings));
  }
  trace(...line: Line): void {
    this.logger.trace(...line);
  }
  debug(...line: Line): void {
    this.logger.debug(...line);
  }
  info(...line: Line): void {
    this.logger.info(...line);
  }
  warn(...line: Line): void {
    this.logger.warn(...line);
  }
  error(...line: Line): void {
    this.logger.error(...line);
  }
  child(bindings: Record<string, unknown>): Logger {
    return this.logger.child(bindings);
  }
  isLevelEnabled(level: string): boolean {
    return this.parent.isLevelEnabled(level);
  }
}

/** The logger for work done on behalf of `actor`: its lines carry the request's id when it has one. */
export function loggerFor(logger: Logger, actor: { requestId?: string }): Logger {
  return actor.requestId === undefined ? logger : lazyChild(logger, { requestId: actor.requestId });
}
