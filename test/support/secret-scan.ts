/**
 * The check every suite runs on the logs it captured: no API token (the ones it knows, and anything
 * shaped like one), no daemon or NATS password, no `password=` from OpenVPN's `>CLIENT:ENV`.
 */
import assert from 'node:assert/strict';

/** A whole token as `switchboard token create` prints it. */
const TOKEN_SHAPE = /sbt_[a-z0-9]{8}_[a-z0-9]{40}/;

/**
 * Asserts that none of `lines` (log lines; a process's output may be passed whole) holds a secret.
 * Lines that are not JSON log lines are skipped: the bootstrap token is printed once, on purpose, to
 * the terminal, outside the log.
 */
export function assertNoSecrets(lines: string | readonly string[], secrets: readonly string[], where = 'logs'): void {
  const all = typeof lines === 'string' ? lines.split('\n') : lines.flatMap((l) => l.split('\n'));
  const logLines = all.filter((l) => l.trimStart().startsWith('{'));
  for (const line of logLines) {
    for (const secret of secrets)
      assert.ok(
        secret === '' || !line.includes(secret),
        `${where}: a secret reached a log line: ${line.slice(0, 200)}`,
      );
    assert.ok(
      !TOKEN_SHAPE.test(line),
      `${where}: something shaped like an API token reached a log line: ${line.slice(0, 200)}`,
    );
    assert.ok(!/password=/.test(line), `${where}: a password= reached a log line: ${line.slice(0, 200)}`);
  }
}
