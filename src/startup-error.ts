/**
 * The process cannot start as configured, for a reason outside it: the port is taken, the host is not
 * an address of this machine, … Its message is one line that starts with the setting to look at; the
 * CLI prints it without a stack and exits 1. (A value that is invalid in itself is a ConfigError,
 * exit 2.)
 */
export class StartupError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${problem}`, options);
    this.name = 'StartupError';
  }
}

/** What `server.listen` failed with, as the setting to fix and the cause. */
export function listenError(error: unknown, host: string, port: number): StartupError {
  const code = (error as { code?: unknown }).code;
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError('SWITCHBOARD_PORT', `port ${port} is already in use on ${host} (EADDRINUSE)`, {
        cause: error,
      });
    case 'EACCES':
      return new StartupError(
        'SWITCHBOARD_PORT',
        `not allowed to listen on port ${port} (EACCES; ports below 1024 need privileges)`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
      return new StartupError('SWITCHBOARD_HOST', `${host} is not an address of this machine (EADDRNOTAVAIL)`, {
        cause: error,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new StartupError('SWITCHBOARD_HOST', `cannot resolve the host name ${JSON.stringify(host)} (${code})`, {
        cause: error,
      });
    default: {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      return new StartupError('SWITCHBOARD_HOST', `cannot listen on ${where}: ${message}`, { cause: error });
    }
  }
}
