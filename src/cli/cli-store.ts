import type { Config } from '../config.js';
import { describeStore, openStoreFor } from '../main.js';
import type { Store } from '../store/store.js';

/**
 * Opens the configured store for a CLI command and says on stderr which one it is: a relative
 * SQLite path depends on the current directory, and a command run elsewhere must not seem to work
 * on the server's store while it works on a new, empty file.
 */
export async function openCliStore(config: Pick<Config, 'databaseUrl'>): Promise<Store> {
  const { label, exists } = describeStore(config.databaseUrl);
  // Said once it opened: a store that could not be opened was not "created now".
  const store = await openStoreFor(config);
  process.stderr.write(`switchboard: store: ${label}${exists ? '' : ' (did not exist: created now, empty)'}\n`);
  return store;
}
