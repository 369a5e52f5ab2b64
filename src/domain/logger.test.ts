/**
 * `lazyChild`: the lines of a child logger made only when one is written, byte for byte those of
 * `logger.child(bindings)`; a request that writes none makes no child.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../main.js';
import { lazyChild, type Logger } from './logger.js';

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

test('lazyChild writes what child writes (bindings, redaction, nested children), time aside', () => {
  const eager = capture();
  const lazy = capture();
  const write = (log: Logger) => {
    log.debug({ method: 'POST', path: '/graphql', status: 200 }, 'request');
    log.warn({ token: 'sbt_aaaaaaaa_secret', detail: 'x' }, 'refused');
    log.info({ n: 1 });
    log.child({ part: 'inner' }).error({ err: new Error('boom') }, 'failed');
  };
  write(eager.logger.child({ requestId: 'r-1' }));
  write(lazyChild(lazy.logger, { requestId: 'r-1' }));
  const untimed = (lines: string[]) => lines.map((l) => l.replace(/"time":\d+,/, '').replace(/"stack":"[^"]*"/, ''));
  assert.equal(eager.lines.length, 4);
  assert.deepEqual(untimed(lazy.lines), untimed(eager.lines));
  assert.ok(lazy.lines.every((l) => l.includes('"requestId":"r-1"')));
});

test('lazyChild makes no child until a line is written, then one for all lines', () => {
  const { logger } = capture();
  let children = 0;
  const counting: Logger = {
    ...logger,
    trace: (o, m) => logger.trace(o, m),
    debug: (o, m) => logger.debug(o, m),
    info: (o, m) => logger.info(o, m),
    warn: (o, m) => logger.warn(o, m),
    error: (o, m) => logger.error(o, m),
    isLevelEnabled: (l) => logger.isLevelEnabled(l),
    child: (b) => {
      children++;
      return logger.child(b);
    },
  };
  const log = lazyChild(counting, { requestId: 'r-2' });
  assert.equal(log.isLevelEnabled('debug'), true);
  assert.equal(children, 0);
  log.info({}, 'one');
  log.warn({}, 'two');
  assert.equal(children, 1);
});
