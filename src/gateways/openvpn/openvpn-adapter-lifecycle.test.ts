/**
 * The OpenVPN adapter against real daemons that stall, stop, restart, block users and ask for a
 * management password.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { GatewayUnavailableError } from '../adapter.js';
import {
  OpenVpnLab,
  openvpnSkipReason,
  sleep,
  type LabClient,
  type LabServer,
} from '../../../test/support/openvpn-lab.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { waitFor } from '../../../test/support/wait.js';
import { OpenVpnAdapter } from './openvpn-adapter.js';

const skip = openvpnSkipReason();
const logs: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
const MGMT_PASSWORD = 'mgmt-s3cret-pw';

/** OpenVPN's instance clock ticks in whole seconds; start the next instance in a later second. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

describe('OpenVPN adapter: daemon lifecycle, blocking, management password', { skip }, () => {
  let lab: OpenVpnLab;
  before(async () => {
    lab = await OpenVpnLab.create();
  });
  after(async () => {
    await lab?.close();
  });

  /**
   * A lab server and an adapter on it, given the control plane's first block list (none: until it
   * comes, CONNECTs are held), started and past its first snapshot (in authorize mode the daemon
   * sends a CONNECT only to a linked management client; the first snapshot follows the link).
   */
  async function adapterOn(
    options: Parameters<OpenVpnLab['startServer']>[0],
    events: AdapterEventLog,
    config?: Parameters<LabServer['gatewayConfig']>[0],
  ): Promise<{ srv: LabServer; adapter: OpenVpnAdapter }> {
    const srv = await lab.startServer(options);
    const adapter = new OpenVpnAdapter(srv.gatewayConfig(config), { logger });
    adapter.setBlocks([]);
    adapter.start(events.push);
    await events.waitFor('snapshot');
    return { srv, adapter };
  }

  describe('a daemon that stalls, stops and restarts (authorize, tcp4)', () => {
    let srv: LabServer;
    let adapter: OpenVpnAdapter;
    let dave: LabClient;
    const events = new AdapterEventLog();
    let startedAt = 0;
    let daveRef = '';

    before(async () => {
      ({ srv, adapter } = await adapterOn({ proto: 'tcp4', mode: 'authorize' }, events));
      dave = await srv.startClient({ user: 'dave' });
      const from = events.mark();
      await adapter.snapshot();
      const snap = await events.waitFor('snapshot', (e) => e.sessions.length === 1, { from });
      startedAt = snap.daemonStartedAt!;
      daveRef = snap.sessions[0]!.ref;
    });
    after(async () => {
      await adapter?.stop();
      await srv?.stopAll();
    });

    test('no answer before the deadline: GatewayUnavailableError, and the link keeps working', async () => {
      srv.signal('SIGSTOP');
      try {
        await assert.rejects(
          adapter.disconnect({ ref: `${startedAt / 1000}:99999`, userName: 'nobody', mode: 'HALT' }, 300),
          GatewayUnavailableError,
        );
      } finally {
        srv.signal('SIGCONT');
      }
      // The late `ERROR` for the timed-out kill must not be taken as the answer to the next command.
      const from = events.mark();
      await adapter.snapshot();
      const snap = await events.waitFor('snapshot', () => true, { from });
      assert.deepEqual(
        snap.sessions.map((s) => s.ref),
        [daveRef],
      );
      assert.equal(adapter.isConnected(), true);
    });

    test('daemon stopped: link-down, and disconnect fails with GatewayUnavailableError', async () => {
      const from = events.mark();
      await srv.stop();
      const down = await events.waitFor('link-down', () => true, { from });
      assert.ok(down.error.length > 0);
      // The daemon says goodbye to each client before it exits: those ends are the gateway's doing.
      const ends = events.all('session.disconnected', from);
      assert.deepEqual(
        ends.map((e) => [e.ref, e.cause]),
        [[daveRef, 'GATEWAY_RESTART']],
      );
      assert.ok(events.events.indexOf(ends[0]!) < events.events.indexOf(down));
      assert.equal(adapter.isConnected(), false);
      await assert.rejects(
        adapter.disconnect({ ref: daveRef, userName: 'dave', mode: 'HALT' }, 1000),
        GatewayUnavailableError,
      );
      await assert.rejects(adapter.snapshot(), GatewayUnavailableError);
    });

    test('daemon restarted: the adapter reconnects by itself and reports the new instance', async () => {
      await nextSecond();
      const from = events.mark();
      await srv.start();
      const snap = await events.waitFor('snapshot', () => true, { from });
      assert.ok(snap.daemonStartedAt! > startedAt, 'a new daemonStartedAt');
      assert.equal(adapter.isConnected(), true);
      assert.equal(await adapter.disconnect({ ref: daveRef, userName: 'dave', mode: 'HALT' }, 3000), 'NOT_FOUND');
      // dave's client may have reached the new daemon before the adapter did: its CONNECT went to no one, and the
      // adapter restarts it once linked (openvpn-adapter-lost-connects.test.ts). A client that connects now is a
      // session of the new instance.
      await dave.stop();
      dave = await srv.startClient({ user: 'dave' });
      const back = await events.waitFor(
        'session.connected',
        (e) => e.session.userName === 'dave' && !e.session.ref.startsWith(`${startedAt / 1000}:`),
        { from },
      );
      assert.match(back.session.ref, new RegExp(`^${snap.daemonStartedAt! / 1000}:`));
      startedAt = snap.daemonStartedAt!;
      daveRef = back.session.ref;
    });

    test('a soft restart (SIGUSR1) is a new instance: Client IDs start again at 0, old refs are NOT_FOUND', async () => {
      const from = events.mark();
      const mark = dave.logLength();
      srv.signal('SIGUSR1');
      const snap = await events.waitFor('snapshot', (e) => e.daemonStartedAt !== startedAt, { from });
      assert.ok(snap.daemonStartedAt! > startedAt);
      assert.equal(events.all('link-down', from).length, 0, 'the management link survives a soft restart');
      const gone = await events.waitFor('session.disconnected', (e) => e.ref === daveRef, { from });
      assert.equal(gone.cause, 'GATEWAY_RESTART');
      await dave.waitConnected({ from: mark });
      const back = await events.waitFor('session.connected', (e) => e.session.userName === 'dave', { from });
      assert.equal(back.session.ref, `${snap.daemonStartedAt! / 1000}:0`);
      assert.equal(await adapter.disconnect({ ref: daveRef, userName: 'dave', mode: 'HALT' }, 3000), 'NOT_FOUND');
      assert.equal(await adapter.disconnect({ ref: back.session.ref, userName: 'dave', mode: 'HALT' }, 3000), 'ENDED');
      await dave.waitExited();
    });
  });

  describe('management-hold (authorize, tcp4)', () => {
    let srv: LabServer;
    let adapter: OpenVpnAdapter;
    const events = new AdapterEventLog();
    after(async () => {
      await adapter?.stop();
      await srv?.stopAll();
    });

    test('the held daemon starts when the adapter releases it; clients are never left unanswered', async () => {
      srv = await lab.startServer({ proto: 'tcp4', mode: 'authorize', hold: true });
      const ivy = await srv.startClient({ user: 'ivy', waitConnected: false }); // retries until the daemon listens
      adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger });
      adapter.setBlocks([]);
      adapter.start(events.push);
      await srv.waitForLog(/Initialization Sequence Completed/);
      await ivy.waitConnected();
      const first = await events.waitFor('session.connected', (e) => e.session.userName === 'ivy');
      // A restart holds again until the adapter is back, so ivy's reconnect is answered too.
      await nextSecond();
      const from = events.mark();
      await srv.restart();
      const back = await events.waitFor('session.connected', (e) => e.session.userName === 'ivy', { from });
      assert.notEqual(back.session.ref.split(':')[0], first.session.ref.split(':')[0]);
    });
  });

  describe('blockSeconds (authorize, udp4)', () => {
    let srv: LabServer;
    let adapter: OpenVpnAdapter;
    const events = new AdapterEventLog();
    const refOf = async (user: string) =>
      (await events.waitFor('session.connected', (e) => e.session.userName === user)).session.ref;

    before(async () => {
      ({ srv, adapter } = await adapterOn({ proto: 'udp4', mode: 'authorize' }, events));
    });
    after(async () => {
      await adapter?.stop();
      await srv?.stopAll();
    });

    test('a blocked user is denied until the block ends, then admitted; other users are not affected', async () => {
      const erin = await srv.startClient({ user: 'erin' });
      const blockedAt = Date.now();
      assert.equal(
        await adapter.disconnect({ ref: await refOf('erin'), userName: 'erin', mode: 'HALT', blockSeconds: 3 }, 3000),
        'ENDED',
      );
      await erin.waitExited();
      const again = await srv.startClient({ user: 'erin', waitConnected: false });
      await again.waitForLog(
        /AUTH: Received control message: AUTH_FAILED,Access blocked by an administrator for \d+ more seconds/,
      );
      await again.waitExited();
      assert.doesNotMatch(again.log(), /Initialization Sequence Completed/);
      await srv.startClient({ user: 'frank' }); // connects while erin is blocked
      await sleep(Math.max(0, blockedAt + 3000 - Date.now()) + 100);
      await srv.startClient({ user: 'erin' }); // resolves only once connected
    });

    test('RESTART with a block: the client is told to reconnect, is denied, and gives up', async () => {
      const gina = await srv.startClient({ user: 'gina' });
      assert.equal(
        await adapter.disconnect(
          { ref: await refOf('gina'), userName: 'gina', mode: 'RESTART', blockSeconds: 30 },
          3000,
        ),
        'ENDED',
      );
      await gina.waitForLog(/Connection reset command was pushed by server/);
      await gina.waitForLog(/AUTH_FAILED,Access blocked by an administrator/);
      await gina.waitExited();
    });
  });

  describe("before the control plane's first block list (authorize, udp4)", () => {
    let srv: LabServer;
    const adapters: OpenVpnAdapter[] = [];
    /** An adapter as a process just started has it: linked, no block list yet. */
    const fresh = async (listWaitMs?: number) => {
      const events = new AdapterEventLog();
      const adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger, blockListWaitMs: listWaitMs });
      adapters.push(adapter);
      adapter.start(events.push);
      await events.waitFor('snapshot');
      return adapter;
    };
    const stopAll = () => Promise.all(adapters.splice(0).map((a) => a.stop()));

    before(async () => {
      srv = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
    });
    afterEach(stopAll); // one management client at a time: the next test's adapter links
    after(async () => {
      await srv?.stopAll();
    });

    /** Starts `user`'s client and resolves once the adapter has its CONNECT (log lines from then on are after `from`). */
    const connectAsked = async (user: string) => {
      const from = logs.length;
      const client = await srv.startClient({ user, waitConnected: false });
      const asked = (l: string) => l.includes('client notification') && l.includes('"event":"CONNECT"');
      await waitFor(
        () => logs.slice(from).some((l) => asked(l) && l.includes(`"common_name":"${user}"`)),
        15_000,
        `${user}'s CONNECT`,
      );
      return { client, from };
    };
    /** No answer (client-auth or client-deny) went to the daemon since `from`, and the client is not in. */
    const unanswered = async (client: LabClient, from: number) => {
      await sleep(300); // an answer is written in the turn the CONNECT arrives; give it far more than that
      const answers = logs.slice(from).filter((l) => /"command":"client-(auth|deny)/.test(l));
      assert.deepEqual(answers, [], 'answered before the block list came');
      assert.doesNotMatch(client.log(), /Initialization Sequence Completed/, 'admitted before the block list came');
    };

    test('a CONNECT is held, not admitted from an empty list: the blocked user is denied once the list comes', async () => {
      const adapter = await fresh();
      const { client: mallory, from } = await connectAsked('mallory');
      await unanswered(mallory, from);
      adapter.setBlocks([{ userName: 'mallory', until: Date.now() + 60_000 }]);
      await mallory.waitForLog(/AUTH_FAILED,Access blocked by an administrator/);
      await mallory.waitExited();
      assert.doesNotMatch(mallory.log(), /Initialization Sequence Completed/);
    });

    test('a held CONNECT of a user the list does not name is admitted when it comes', async () => {
      const adapter = await fresh();
      const { client: nina, from } = await connectAsked('nina');
      await unanswered(nina, from);
      adapter.setBlocks([{ userName: 'mallory', until: Date.now() + 60_000 }]);
      await nina.waitConnected();
    });

    test('no list within the wait: the CONNECT is answered from what is known, with a warning', async () => {
      const from = logs.length;
      await fresh(1_500);
      const oscar = await srv.startClient({ user: 'oscar' }); // resolves once connected
      assert.ok(oscar);
      assert.ok(
        logs.slice(from).some((l) => /no block list from the control plane yet/.test(l)),
        'the wait that ended without a list is logged',
      );
    });
  });

  describe('management password (observe, tcp4)', () => {
    let srv: LabServer;
    const adapters: OpenVpnAdapter[] = [];
    const start = (passwordFile: string | undefined) => {
      const events = new AdapterEventLog();
      const adapter = new OpenVpnAdapter(srv.gatewayConfig({ managementPasswordFile: passwordFile }), { logger });
      adapters.push(adapter);
      adapter.start(events.push);
      return { adapter, events };
    };

    before(async () => {
      srv = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: MGMT_PASSWORD });
      await srv.startClient({ user: 'hank' });
    });
    after(async () => {
      await Promise.all(adapters.map((a) => a.stop()));
      await srv?.stopAll();
    });

    test('a wrong or missing password is reported, and the link stays down', async () => {
      const wrong = join(lab.dir, 'wrong.pw');
      await writeFile(wrong, 'not-the-password\n');
      for (const [file, reason] of [
        [wrong, /rejected the management password/],
        [undefined, /none is configured/],
      ] as const) {
        const { adapter, events } = start(file);
        const down = await events.waitFor('link-down');
        assert.match(down.error, reason);
        assert.equal(adapter.isConnected(), false);
        assert.equal(events.all('snapshot').length, 0);
        await adapter.stop();
      }
    });

    test('the right password: connected, with the sessions', async () => {
      const { adapter, events } = start(srv.managementPasswordFile);
      const snap = await events.waitFor('snapshot');
      assert.equal(adapter.isConnected(), true);
      assert.deepEqual(
        snap.sessions.map((s) => s.userName),
        ['hank'],
      );
    });
  });

  describe('identity username (authorize, tcp4): a user name too long to record', () => {
    let srv: LabServer;
    let adapter: OpenVpnAdapter;
    const events = new AdapterEventLog();
    before(async () => {
      ({ srv, adapter } = await adapterOn({ proto: 'tcp4', mode: 'authorize' }, events, { identity: 'username' }));
    });
    after(async () => {
      await adapter?.stop();
      await srv?.stopAll();
    });

    test('is denied at once (the daemon passes 1,000 characters), and the gateway keeps its other sessions', async () => {
      const ok = await srv.startClient({ user: 'ursula' });
      const long = join(srv.dir, 'long-user.up');
      await writeFile(long, `${'u'.repeat(1000)}\npw-long\n`, { mode: 0o600 });
      const from = events.mark();
      const c = await srv.startClient({
        cn: 'long-user',
        waitConnected: false,
        extraArgs: ['--auth-user-pass', long],
      });
      await c.waitForLog(/AUTH_FAILED,User name longer than 512 characters/, { timeoutMs: 15_000 });
      assert.equal(events.all('session.connected', from).length, 0, 'no session under that name');
      await adapter.snapshot();
      const snap = await events.waitFor('snapshot', () => true, { from });
      assert.deepEqual(
        snap.sessions.map((s) => s.userName),
        ['ursula'],
      );
      assert.equal(ok.exited, false);
    });
  });

  test('no adapter log line carries a client or management password', () => {
    const text = logs.join('\n');
    assert.ok(text.includes('"event":"CONNECT"'), 'client CONNECT blocks were logged');
    assert.doesNotMatch(text, new RegExp(`password=|pw-erin|pw-dave|${MGMT_PASSWORD}|"password"`));
  });
});
