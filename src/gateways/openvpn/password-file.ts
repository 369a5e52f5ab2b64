/** Reads a management password file: its first line, as OpenVPN's own `management … pw-file` does. */
import { readFile } from 'node:fs/promises';

export async function readPasswordFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  if (first === '') throw new Error(`management password file ${path} is empty`);
  return first;
}
