/**
 * What only NATS has: separate connections (as separate processes would hold), server-side
 * no-responders, authentication, reconnects. The shared behaviour is in `bus.contract.ts`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { BusTimeoutError } from '../bus.js';
import { connectNatsBus, type NatsBus, type NatsBusStatus } from './nats-bus.js';
import { NatsConnectError } from './nats-connect-error.js';
import {
  captureLogger as capture,
  natsServerSkipReason,
  natsSkipReason,
  startNatsServer,
  TEST_NATS_URL,
  type TestNatsServer,
} from '../../../test/support/nats-server.js';
import { parseNatsUrl, scrubSecrets, scrubUrl } from './nats-url.js';
import { waitFor } from '../../../test/support/wait.js';

const unique = () => `n${Math.random().toString(36).slice(2, 10)}`;
/** As in `bus.contract.ts`: a flush instead of a sleep, after a subscribe and before looking for strays. */
const FLUSH_MS = 2000;
const until = (check: () => boolean, ms = 5000) => waitFor(check, ms, 'the bus', 5);

const open: NatsBus[] = [];
async function bus(options: Partial<Parameters<typeof connectNatsBus>[0]> = {}): Promise<NatsBus> {
  const b = await connectNatsBus({ url: TEST_NATS_URL, ...options });
  open.push(b);
  return b;
}
after(async () => {
  await Promise.all(open.map((b) => b.close()));
});

describe('nats bus across connections', { skip: await natsSkipReason() }, () => {
  test('a publish on one connection reaches a subscriber on another', async () => {
    const [a, b] = [await bus({ name: 'a' }), await bus({ name: 'b' })];
    const s = unique();
    const got: unknown[] = [];
    b.subscribe(`${s}.gw.*.report`, (d, subject) => void got.push([subject, d]));
    await b.flush(FLUSH_MS);
    await a.publish(`${s}.gw.g1.report`, { type: 'snapshot', sessions: [] });
    await until(() => got.length === 1);
    assert.deepEqual(got, [[`${s}.gw.g1.report`, { type: 'snapshot', sessions: [] }]]);
  });

  test('subscribers of one subject share one NATS subscription: each message is parsed once, for all of them', async () => {
    const [pub, sub] = [await bus(), await bus()];
    const s = unique();
    const [first, second, third]: unknown[][] = [[], [], []];
    sub.subscribe(`${s}.r`, (d) => void first!.push(d));
    const offSecond = sub.subscribe(`${s}.r`, (d) => void second!.push(d));
    await sub.flush(FLUSH_MS);
    await pub.publish(`${s}.r`, { n: 1 });
    await until(() => first!.length === 1 && second!.length === 1);
    // One decoded value handed to both (two subscriptions would have parsed two copies).
    assert.equal(first![0], second![0]);
    offSecond();
    sub.subscribe(`${s}.r`, (d) => void third!.push(d));
    await sub.flush(FLUSH_MS);
    await pub.publish(`${s}.r`, { n: 2 });
    await until(() => first!.length === 2 && third!.length === 1);
    await pub.flush(FLUSH_MS);
    await sub.flush(FLUSH_MS);
    assert.equal(second!.length, 1, 'an unsubscribed handler hears nothing more');
    assert.deepEqual(first, [{ n: 1 }, { n: 2 }]);
  });

  test('a queue group spread over two connections gets each message once, and both share the load', async () => {
    const [pub, w1, w2] = [await bus(), await bus(), await bus()];
    const s = unique();
    const got: number[][] = [[], []];
    w1.subscribe(`${s}.work`, (d) => void got[0]!.push(d as number), { queue: 'workers' });
    w2.subscribe(`${s}.work`, (d) => void got[1]!.push(d as number), { queue: 'workers' });
    await Promise.all([w1.flush(FLUSH_MS), w2.flush(FLUSH_MS)]);
    for (let n = 0; n < 100; n++) await pub.publish(`${s}.work`, n);
    await until(() => got.flat().length === 100);
    // Every message is at the server once pub's flush returns; a second copy would reach w1 or w2 before their pong.
    await pub.flush(FLUSH_MS);
    await Promise.all([w1.flush(FLUSH_MS), w2.flush(FLUSH_MS)]);
    assert.deepEqual(
      got.flat().sort((x, y) => x - y),
      [...Array(100).keys()],
    );
    // NATS picks a member at random: all 100 on one side would mean the group is not shared.
    assert.ok(got[0]!.length > 0 && got[1]!.length > 0, `split ${got[0]!.length}/${got[1]!.length}`);
  });

  test('request/reply across connections, errors included', async () => {
    const [control, agent] = [await bus(), await bus()];
    const s = unique();
    agent.serve(`${s}.disconnect`, async (d) => {
      const req = d as { ref: string };
      if (req.ref === 'gone') throw new Error('no such client');
      return { outcome: 'ENDED', ref: req.ref };
    });
    await agent.flush(FLUSH_MS);
    assert.deepEqual(await control.request(`${s}.disconnect`, { ref: 'cid-7' }, { timeoutMs: 2000 }), {
      outcome: 'ENDED',
      ref: 'cid-7',
    });
    await assert.rejects(control.request(`${s}.disconnect`, { ref: 'gone' }, { timeoutMs: 2000 }), {
      message: 'no such client',
    });
  });

  test('close() lets a handler that is still running answer, then serves no more', async () => {
    const control = await bus();
    const agent = await connectNatsBus({ url: TEST_NATS_URL });
    const s = unique();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    agent.serve(`${s}.slow`, async () => {
      started = true;
      await gate;
      return 'done';
    });
    await agent.flush(FLUSH_MS);
    const pending = control.request(`${s}.slow`, null, { timeoutMs: 10_000 });
    await until(() => started);
    const closing = agent.close();
    // Time for close() to drain the subscription and reach its wait for running handlers: no event
    // marks that step, and the assertions hold (more weakly) even if the release came first.
    await new Promise((r) => setTimeout(r, 50));
    release();
    assert.equal(await pending, 'done');
    await closing;
    const err = await control.request(`${s}.slow`, null, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    assert.ok(err instanceof BusTimeoutError && err.noResponders, String(err));
  });

  test('nobody serving is reported as noResponders, without waiting for the deadline', async () => {
    const a = await bus();
    // A deadline far beyond the test's patience: only the server's no-responders answer ends this early
    // with noResponders true; a plain timeout would end with noResponders false.
    const err = await a.request(`${unique()}.nobody`, {}, { timeoutMs: 120_000 }).catch((e: unknown) => e);
    assert.ok(err instanceof BusTimeoutError);
    assert.equal(err.noResponders, true);
  });

  test('a message that is not JSON is dropped and the subscription keeps going', async () => {
    const b = await bus();
    const raw = await connect({ servers: TEST_NATS_URL });
    try {
      const s = unique();
      const got: unknown[] = [];
      b.subscribe(`${s}.x`, (d) => void got.push(d));
      await b.flush(FLUSH_MS);
      raw.publish(`switchboard.${s}.x`, 'not json {'); // the bus's subjects are under its prefix
      raw.publish(`switchboard.${s}.x`, '{"ok":true}');
      await raw.flush();
      await until(() => got.length === 1);
      await b.flush(FLUSH_MS); // raw's flush put both at the server: the first would be delivered by now
      assert.deepEqual(got, [{ ok: true }]);
    } finally {
      await raw.close();
    }
  });

  test('an error reply follows the NATS services convention, for other clients to read', async () => {
    const b = await bus();
    const raw = await connect({ servers: TEST_NATS_URL });
    try {
      const s = unique();
      b.serve(`${s}.svc`, async () => {
        throw new Error('line one\nline two');
      });
      await b.flush(FLUSH_MS);
      const reply = await raw.request(`switchboard.${s}.svc`, '{}', { timeout: 2000 });
      assert.equal(reply.headers?.get('Nats-Service-Error'), 'line one line two');
      assert.equal(reply.headers?.get('Nats-Service-Error-Code'), '500');
      assert.deepEqual(reply.json(), { error: 'line one\nline two' });
    } finally {
      await raw.close();
    }
  });
});

describe('nats bus authentication and reconnects', { skip: natsServerSkipReason() }, () => {
  const servers: TestNatsServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });
  async function server(args: string[], port?: number): Promise<TestNatsServer> {
    const s = await startNatsServer(args, port);
    servers.push(s);
    return s;
  }
  async function roundTrip(b: NatsBus): Promise<void> {
    const s = unique();
    b.serve(`${s}.ping`, async (d) => ({ pong: d }));
    await b.flush(FLUSH_MS);
    assert.deepEqual(await b.request(`${s}.ping`, 1, { timeoutMs: 2000 }), { pong: 1 });
  }

  test('user/password: refused with a clear error that holds no password; accepted with the right one', async () => {
    const srv = await server(['--user', 'agent', '--pass', 'S3cret-pass-xyz']);
    const log = capture();
    const wrong = 'Wr0ng-pass-abc';
    const attempts = [
      { url: srv.url },
      { url: srv.url, user: 'agent', pass: wrong },
      { url: srv.url.replace('nats://', `nats://agent:${wrong}@`) },
    ];
    for (const attempt of attempts) {
      const err = await connectNatsBus({ ...attempt, logger: log.logger }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof NatsConnectError, String(err));
      assert.equal(err.reason, 'AUTHORIZATION');
      assert.match(err.message, /refused the connection.*credentials/i);
      assert.ok(err.message.includes(srv.url), err.message);
      assert.ok(!err.message.includes(wrong), err.message);
      assert.ok(!(err.stack ?? '').includes(wrong));
    }
    const good = await connectNatsBus({ url: srv.url, user: 'agent', pass: 'S3cret-pass-xyz', logger: log.logger });
    try {
      await roundTrip(good);
    } finally {
      await good.close();
    }
    const inUrl = await connectNatsBus({
      url: srv.url.replace('nats://', 'nats://agent:S3cret-pass-xyz@'),
      logger: log.logger,
    });
    try {
      await roundTrip(inUrl);
    } finally {
      await inUrl.close();
    }
    assert.ok(log.lines.length > 0, 'the logger was used');
    for (const line of log.lines) assert.ok(!line.includes('S3cret-pass-xyz') && !line.includes(wrong), line);
  });

  test('token: refused with a clear error that holds no token; accepted with the right one', async () => {
    const srv = await server(['--auth', 'T0ken-right-123']);
    for (const options of [
      { token: 'T0ken-wrong-456' },
      { url: srv.url.replace('nats://', 'nats://T0ken-wrong-456@') },
    ]) {
      const err = await connectNatsBus({ url: srv.url, ...options }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof NatsConnectError, String(err));
      assert.equal(err.reason, 'AUTHORIZATION');
      assert.ok(!err.message.includes('T0ken-wrong-456'), err.message);
    }
    for (const options of [
      { token: 'T0ken-right-123' },
      { url: srv.url.replace('nats://', 'nats://T0ken-right-123@') },
    ]) {
      const good = await connectNatsBus({ url: srv.url, ...options });
      try {
        await roundTrip(good);
      } finally {
        await good.close();
      }
    }
  });

  test('an unreachable server is a clear UNREACHABLE error that holds no password', async () => {
    const srv = await server([]);
    await srv.stop();
    const err = await connectNatsBus({
      url: srv.url.replace('nats://', 'nats://u:Hidden-pw-1@'),
      connectTimeoutMs: 2000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof NatsConnectError, String(err));
    assert.equal(err.reason, 'UNREACHABLE');
    assert.ok(!err.message.includes('Hidden-pw-1'), err.message);
  });

  test('after the server restarts the bus reconnects by itself and its subscriptions still deliver', async () => {
    const first = await server([]);
    const log = capture();
    const b = await connectNatsBus({ url: first.url, reconnectWaitMs: 50, logger: log.logger, closeGraceMs: 500 });
    try {
      const statuses: NatsBusStatus['type'][] = [];
      b.onStatus((st) => void statuses.push(st.type));
      const changes: boolean[] = [];
      b.onConnectedChange((up) => void changes.push(up));
      const s = unique();
      const got: unknown[] = [];
      b.subscribe(`${s}.after`, (d) => void got.push(d));
      b.serve(`${s}.ping`, async () => 'pong');
      await b.flush(FLUSH_MS);

      await first.stop();
      await until(() => statuses.includes('disconnected'));
      assert.equal(b.connected, false);
      assert.deepEqual(changes, [false]);
      await assert.rejects(b.flush(500), /not connected/, 'nothing published now can be confirmed');

      const second = await server([], first.port);
      await until(() => statuses.includes('reconnected'), 15_000);
      assert.equal(b.connected, true);
      assert.deepEqual(changes, [false, true]);
      await b.flush(2000);

      const other = await connectNatsBus({ url: second.url });
      try {
        await other.publish(`${s}.after`, 'hello again');
        await until(() => got.length === 1);
        assert.deepEqual(got, ['hello again']);
        assert.equal(await other.request(`${s}.ping`, null, { timeoutMs: 2000 }), 'pong');
      } finally {
        await other.close();
      }
      assert.ok(log.lines.some((l) => l.startsWith('warn nats bus disconnected')));
      assert.ok(log.lines.some((l) => l.startsWith('info nats bus reconnected')));

      // Closing while the server is away still finishes (hard, after the grace period).
      await second.stop();
      await until(() => statuses.filter((t) => t === 'disconnected').length === 2);
    } finally {
      await b.close();
    }
    assert.equal(b.connected, false);
  });
});

describe('nats URLs and credentials', () => {
  test('credentials come out of the URL; the servers keep only scheme, host and port', () => {
    assert.deepEqual(parseNatsUrl('nats://agent:p%40ss@nats-1:4222, nats-2:4223'), {
      servers: ['nats://nats-1:4222', 'nats://nats-2:4223'],
      tls: false,
      user: 'agent',
      pass: 'p@ss',
    });
    assert.deepEqual(parseNatsUrl('tls://tok123@nats.example'), {
      servers: ['tls://nats.example'],
      tls: true,
      token: 'tok123',
    });
    assert.deepEqual(parseNatsUrl('nats://a:b@h:1', { token: 't' }), {
      servers: ['nats://h:1'],
      tls: false,
      token: 't',
    });
  });

  test('scrubbing removes credentials from URLs and every given secret', () => {
    assert.equal(
      scrubUrl('cannot reach nats://agent:pa/ss@h:4222, tls://tok@h2'),
      'cannot reach nats://***@h:4222, tls://***@h2',
    );
    assert.equal(scrubSecrets('bad password hunter2 for agent', ['hunter2', undefined]), 'bad password *** for agent');
    assert.throws(
      () => parseNatsUrl('nats://agent:pw/with-slash@'),
      (e: Error) => !e.message.includes('with-slash'),
    );
  });
});
