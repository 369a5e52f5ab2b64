/**
 * The little the store logs, in pino's call shape (`logger.info(obj, msg)`), so a pino logger fits
 * without the store depending on pino.
 */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
