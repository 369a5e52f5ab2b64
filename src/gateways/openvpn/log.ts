/** The logging surface the OpenVPN adapter needs; a pino logger fits it. Secrets never go through it. */
export interface OpenVpnLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentOpenVpnLogger: OpenVpnLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
