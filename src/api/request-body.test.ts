import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readBody } from './request-body.js';

/**
 * Sends `parts` (written one by one, `gapMs` apart) to a server whose handler reads the body after
 * an await, as the API's does after the token check: what it read, and whether it came as a promise.
 */
async function readFrom(parts: (string | Buffer)[], gapMs = 0): Promise<{ read: unknown; promised: boolean }> {
  let seen: (v: { read: unknown; promised: boolean }) => void = () => {};
  const result = new Promise<{ read: unknown; promised: boolean }>((r) => (seen = r));
  const server = createServer((req: IncomingMessage, res) => {
    void (async () => {
      await Promise.resolve();
      const answer = readBody(req, 64);
      const promised = answer instanceof Promise;
      seen({ read: await answer, promised });
      res.end('ok');
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  try {
    for (const p of parts) {
      socket.write(p);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    return await result;
  } finally {
    socket.destroy();
    await new Promise((r) => server.close(r));
  }
}

const head = (length: number) => `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`;

test('a body that arrived with its headers is read at once, not through a promise', async () => {
  const body = '{"query":"{ ok }"}';
  assert.deepEqual(await readFrom([head(body.length) + body]), { read: body, promised: false });
  assert.deepEqual(await readFrom([head(0)]), { read: '', promised: false });
  // The same checks on that path: strict UTF-8.
  const bad = Buffer.concat([Buffer.from(head(2)), Buffer.from([0xc3, 0x28])]);
  assert.deepEqual(await readFrom([bad]), {
    read: { code: 'BAD_REQUEST', message: 'The request body is not valid UTF-8' },
    promised: false,
  });
});

test('a body still arriving is read as before: whole, through a promise; one over the limit is refused', async () => {
  const body = '{"query":"{ ok }"}';
  assert.deepEqual(await readFrom([head(body.length) + body.slice(0, 5), body.slice(5)], 50), {
    read: body,
    promised: true,
  });
  const chunked = 'POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
  const big = 'x'.repeat(40);
  const { read } = await readFrom([chunked + `28\r\n${big}\r\n`, `28\r\n${big}\r\n0\r\n\r\n`], 50);
  assert.equal((read as { code: string }).code, 'PAYLOAD_TOO_LARGE');
  assert.deepEqual(await readFrom([head(65) + 'y'.repeat(65)]), {
    read: {
      code: 'PAYLOAD_TOO_LARGE',
      message: 'The request body is larger than 64 bytes',
      headers: { connection: 'close' },
    },
    promised: false,
  });
});
