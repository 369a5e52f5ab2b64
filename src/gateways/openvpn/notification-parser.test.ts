import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotificationAssembler, parseStateLine, type Notification } from './notification-parser.js';

function feed(lines: string[]): Notification[] {
  const a = new NotificationAssembler();
  return lines.map((l) => a.push(l)).filter((n) => n !== null);
}

test('a >CLIENT:CONNECT block becomes one notification, without the password', () => {
  const out = feed([
    '>CLIENT:CONNECT,0,1',
    '>CLIENT:ENV,n_clients=0',
    '>CLIENT:ENV,password=pass-client1',
    '>CLIENT:ENV,untrusted_ip=127.0.0.1',
    '>CLIENT:ENV,common_name=client1',
    '>CLIENT:ENV,username=user-client1',
    '>CLIENT:ENV,tls_id_0=CN=client1',
    '>CLIENT:ENV,END',
  ]);
  assert.deepEqual(out, [
    {
      kind: 'client',
      event: 'CONNECT',
      cid: 0,
      kid: 1,
      env: {
        n_clients: '0',
        untrusted_ip: '127.0.0.1',
        common_name: 'client1',
        username: 'user-client1',
        tls_id_0: 'CN=client1',
      },
    },
  ]);
  assert.ok(!JSON.stringify(out).includes('pass-client1'));
});

test('ESTABLISHED and DISCONNECT blocks, ADDRESS lines, REAUTH', () => {
  const out = feed([
    '>CLIENT:ADDRESS,1,10.9.0.2,1',
    '>CLIENT:ESTABLISHED,1',
    '>CLIENT:ENV,ifconfig_pool_remote_ip=10.9.0.2',
    '>CLIENT:ENV,END',
    '>CLIENT:DISCONNECT,2',
    '>CLIENT:ENV,bytes_sent=2143',
    '>CLIENT:ENV,END',
    '>CLIENT:REAUTH,3,4',
    '>CLIENT:ENV,END',
  ]);
  assert.deepEqual(out, [
    { kind: 'client-address', cid: 1, address: '10.9.0.2', primary: true },
    { kind: 'client', event: 'ESTABLISHED', cid: 1, kid: null, env: { ifconfig_pool_remote_ip: '10.9.0.2' } },
    { kind: 'client', event: 'DISCONNECT', cid: 2, kid: null, env: { bytes_sent: '2143' } },
    { kind: 'client', event: 'REAUTH', cid: 3, kid: 4, env: {} },
  ]);
});

test('a challenge response is never kept', () => {
  const out = feed(['>CLIENT:CR_RESPONSE,5,0,c2VjcmV0', '>CLIENT:ENV,END']);
  assert.deepEqual(out, [{ kind: 'client', event: 'CR_RESPONSE', cid: 5, kid: 0, env: {} }]);
  assert.ok(!JSON.stringify(out).includes('c2VjcmV0'));
});

test('>STATE and other sources', () => {
  assert.deepEqual(
    feed([
      '>STATE:1795964492,CONNECTED,SUCCESS,198.19.11.1,,,127.0.0.1,39179',
      ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info",
      '>NOTIFY:info,remote-exit,EXIT',
    ]),
    [
      { kind: 'state', state: { time: 1795964492, name: 'CONNECTED', detail: 'SUCCESS' } },
      { kind: 'other', source: 'INFO', text: "OpenVPN Management Interface Version 5 -- type 'help' for more info" },
      { kind: 'other', source: 'NOTIFY', text: 'info,remote-exit,EXIT' },
    ],
  );
});

test('reset drops a half-received block; stray ENV lines are ignored', () => {
  const a = new NotificationAssembler();
  assert.equal(a.push('>CLIENT:CONNECT,0,1'), null);
  assert.equal(a.push('>CLIENT:ENV,username=x'), null);
  a.reset();
  assert.equal(a.push('>CLIENT:ENV,username=y'), null);
  assert.equal(a.push('>CLIENT:ENV,END'), null);
});

test('state lines', () => {
  assert.deepEqual(parseStateLine('1795964221,CONNECTED,SUCCESS,10.77.0.1,,,127.0.0.1,11990'), {
    time: 1795964221,
    name: 'CONNECTED',
    detail: 'SUCCESS',
  });
  assert.deepEqual(parseStateLine('1795964250,RECONNECTING,SIGUSR1,,,,,'), {
    time: 1795964250,
    name: 'RECONNECTING',
    detail: 'SIGUSR1',
  });
  assert.equal(parseStateLine('END'), null);
  assert.equal(parseStateLine(',CONNECTED'), null);
});
