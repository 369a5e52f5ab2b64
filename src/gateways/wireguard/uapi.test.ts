import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPeerLines, base64ToHex, hexToBase64, parseDevice, removePeerLines, uapiGet, uapiSet } from './uapi.js';
import { checkedDevice } from './wireguard-control.js';
import { GatewayUnavailableError } from '../adapter.js';

const PRIVATE = 'e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a';
const PEER1 = 'b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33';
const PSK = '188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52';
const PEER2 = '58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376';

// The shape of wireguard-go's answer to get=1 (cross-platform UAPI, https://www.wireguard.com/xplatform/).
const ANSWER = [
  `private_key=${PRIVATE}`,
  'listen_port=51820',
  `public_key=${PEER1}`,
  `preshared_key=${PSK}`,
  'protocol_version=1',
  'endpoint=10.78.1.2:44101',
  'last_handshake_time_sec=1796554992',
  'last_handshake_time_nsec=103000000',
  'tx_bytes=860',
  'rx_bytes=1332',
  'persistent_keepalive_interval=25',
  'allowed_ip=10.77.0.2/32',
  'allowed_ip=fd00::2/128',
  `public_key=${PEER2}`,
  `preshared_key=${'0'.repeat(64)}`,
  'protocol_version=1',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'allowed_ip=10.77.0.3/32',
  'errno=0',
  '',
  '',
].join('\n');

test('get=1: peers with base64 keys, handshake in ms, counters, allowed IPs; the private key is not kept', () => {
  const device = parseDevice(ANSWER);
  assert.equal(device.listenPort, 51820);
  assert.deepEqual(device.peers[0], {
    publicKey: hexToBase64(PEER1),
    presharedKey: hexToBase64(PSK),
    endpoint: '10.78.1.2:44101',
    allowedIps: ['10.77.0.2/32', 'fd00::2/128'],
    persistentKeepalive: 25,
    lastHandshakeAt: 1796554992103,
    rxBytes: 1332,
    txBytes: 860,
  });
  assert.deepEqual(device.peers[1], {
    publicKey: hexToBase64(PEER2),
    presharedKey: null,
    endpoint: null,
    allowedIps: ['10.77.0.3/32'],
    persistentKeepalive: 0,
    lastHandshakeAt: 0,
    rxBytes: 0,
    txBytes: 0,
  });
  const kept = JSON.stringify(device);
  assert.ok(!kept.includes(PRIVATE) && !kept.includes(hexToBase64(PRIVATE)), 'no private key');
});

test('set=1 lines: remove by key; re-add with exactly the configuration read', () => {
  const peer = parseDevice(ANSWER).peers[0]!;
  assert.deepEqual(removePeerLines(peer.publicKey), [`public_key=${PEER1}`, 'remove=true']);
  assert.deepEqual(addPeerLines(peer), [
    `public_key=${PEER1}`,
    `preshared_key=${PSK}`,
    'persistent_keepalive_interval=25',
    'replace_allowed_ips=true',
    'allowed_ip=10.77.0.2/32',
    'allowed_ip=fd00::2/128',
  ]);
  assert.equal(addPeerLines({ ...peer, presharedKey: null })[1], `preshared_key=${'0'.repeat(64)}`);
  assert.equal(base64ToHex(hexToBase64(PEER2)), PEER2);
});

test('an answer that arrived while this process was stalled past the deadline is taken, not reported as no answer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-uapi-'));
  const socket = join(dir, 'wg.sock');
  const go = join(dir, 'go');
  const answered = join(dir, 'answered');
  // A daemon in another process: it answers once this process is stalled (the file 'go'), then leaves
  // the file 'answered', which this process can see while it is still stalled.
  const daemon = spawn(process.execPath, [
    '-e',
    `const fs = require('fs');
     require('net').createServer((s) => s.once('data', () => {
       const wait = setInterval(() => {
         if (!fs.existsSync(${JSON.stringify(go)})) return;
         clearInterval(wait);
         s.write('errno=0\\n\\n', () => fs.writeFileSync(${JSON.stringify(answered)}, ''));
       }, 5);
     })).listen(${JSON.stringify(socket)}, () => console.log('ready'));`,
  ]);
  t.after(() => {
    daemon.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await once(daemon.stdout!, 'data');
  // Long enough that the stall below begins before the deadline, even on a busy machine.
  const timeoutMs = 1000;
  const sent = Date.now();
  const reply = uapiGet(socket, timeoutMs);
  await new Promise((r) => setTimeout(r, 10)); // the request is written
  // Stalled (a busy machine, a synchronous call) in a callback after the loop's I/O phase, until the
  // answer waits on the socket and the deadline is past: the loop's next turn runs its timers first.
  await new Promise((r) => setImmediate(r));
  writeFileSync(go, '');
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(answered) || Date.now() < sent + timeoutMs + 20) Atomics.wait(nap, 0, 0, 5);
  assert.deepEqual(await reply, { listenPort: null, peers: [] });
});

/** A stand-in daemon's UAPI socket that answers each connection with `serve`; gone after the test. */
async function standIn(t: { after(fn: () => void): void }, serve: (s: Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-uapi-'));
  const socket = join(dir, 'wg.sock');
  const server = createServer(serve);
  server.listen(socket);
  await once(server, 'listening');
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return socket;
}

test('no answer (a stalled daemon): a get cannot take effect, a written set may', async (t) => {
  const socket = await standIn(t, (s) => s.resume()); // reads the request, never answers
  await assert.rejects(
    uapiGet(socket, 100),
    (e: unknown) => e instanceof GatewayUnavailableError && /no answer/.test(e.message) && !e.mayTakeEffect,
  );
  await assert.rejects(
    uapiSet(socket, removePeerLines(hexToBase64(PEER1)), 100),
    (e: unknown) => e instanceof GatewayUnavailableError && /no answer/.test(e.message) && e.mayTakeEffect,
  );
});

test('get=1: an answer of another shape is an error (no value in its message), never a shorter list', () => {
  for (const bad of [
    ANSWER.replace('rx_bytes=1332', 'rx_bytes=lots'),
    ANSWER.replace(`public_key=${PEER2}`, 'public_key=abcd'),
    ANSWER.replace('allowed_ip=10.77.0.3/32', 'allowed_ip=everything'),
    // Buffer reads hex only up to a stray character and drops an odd last digit: neither is a key.
    ANSWER.replace(`public_key=${PEER2}`, `public_key=${PEER2}zz`),
    ANSWER.replace(`public_key=${PEER2}`, `public_key=${PEER2}5`),
    ANSWER.replace(`preshared_key=${PSK}`, `preshared_key=${PSK}x`),
  ]) {
    assert.throws(
      () => checkedDevice(parseDevice(bad), 'get=1'),
      (e: unknown) =>
        e instanceof GatewayUnavailableError && !e.message.includes(PSK) && !e.message.includes(hexToBase64(PSK)),
    );
  }
});

test('an answer that runs on without its end fails with that reason, not a buffer that grows until the deadline', async (t) => {
  const socket = await standIn(t, (s) => {
    s.on('error', () => {});
    let left = 4 * 1024 * 1024; // 64 times the bound given below
    const more = () => {
      if (s.destroyed || left <= 0) return;
      left -= 64 * 1024;
      s.write('allowed_ip=10.77.0.2/32\n'.repeat(2731), () => setImmediate(more));
    };
    more();
  });
  await assert.rejects(
    uapiGet(socket, 5_000, 65_536),
    (e: unknown) =>
      e instanceof GatewayUnavailableError && /more than 65536 characters without its end/.test(e.message),
  );
});
