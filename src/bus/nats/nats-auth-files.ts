/**
 * Credentials kept in files: a `.creds` file (user JWT + NKEY seed) or an NKEY seed file. Each
 * (re)connection reads the file again, as the Go client and the NATS CLI do, so a rotated file applies
 * at the next reconnect without a restart. A file that cannot be read then (a rotation half-done)
 * leaves the last content read in use rather than breaking the reconnect.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from '@nats-io/transport-node';

/** Reads `file` now (throwing when it cannot) and at each later call, falling back to the last read. */
function rereading(file: string): () => Uint8Array {
  let last = readFileSync(file);
  return () => {
    try {
      last = readFileSync(file);
    } catch {
      // keep the last content read
    }
    return last;
  };
}

/** Authenticates with the user JWT and seed of a `.creds` file. */
export function credsFileAuthenticator(file: string): Authenticator {
  return credsAuthenticator(rereading(file));
}

/** Authenticates with the NKEY seed on the first non-empty line of `file`. */
export function nkeySeedFileAuthenticator(file: string): Authenticator {
  const read = rereading(file);
  return nkeyAuthenticator(() => {
    const seed =
      new TextDecoder()
        .decode(read())
        .split(/\r?\n/)
        .map((l) => l.trim())
        .find((l) => l !== '') ?? '';
    return new TextEncoder().encode(seed);
  });
}
