/**
 * The block file of an OpenConnect gateway: the users Switchboard has blocked (a disconnect's
 * `blockSeconds`), for ocserv's connect-script (`bin/switchboard-ocserv-connect`) to refuse their
 * tunnels. ocserv itself can only ban addresses, which would also lock out everyone behind the same
 * NAT, so the check is made per user by the script, against this file.
 *
 * One line per block: `<until, ms since the epoch> <user name>`. The file is replaced whole
 * (written beside it, then renamed), so the script never reads half a list. A user name holding a
 * line break cannot be written (and cannot be blocked): the adapter refuses such a block.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { BlockEntry } from '../../domain/block.js';

/** Whether a block for this user name can be written to the file. */
export function blockableUserName(userName: string): boolean {
  return userName !== '' && !/[\r\n]/.test(userName);
}

/** The file's text for these blocks (expired ones and unwritable names left out). */
export function blockFileText(entries: readonly BlockEntry[], now = Date.now()): string {
  return entries
    .filter((e) => e.until > now && blockableUserName(e.userName))
    .map((e) => `${Math.ceil(e.until)} ${e.userName}\n`)
    .join('');
}

/** Writes the file whole; writes are applied in order (a later list never loses to an earlier one). */
export class BlockFile {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  write(entries: readonly BlockEntry[]): Promise<void> {
    const text = blockFileText(entries);
    const run = this.chain.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, this.path);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
