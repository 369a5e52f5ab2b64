/**
 * The OpenVPN adapter against real OpenVPN servers and real clients on loopback, in both gateway modes
 * and over UDP and TCP. Lifecycle cases (daemon restart, blocking, password) are in
 * openvpn-adapter-lifecycle.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { SessionReport } from '../../domain/session.js';
import {
  OpenVpnLab,
  openvpnSkipReason,
  type LabClient,
  type LabMode,
  type LabProto,
  type LabServer,
} from '../../../test/support/openvpn-lab.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { OpenVpnAdapter } from './openvpn-adapter.js';

const skip = openvpnSkipReason();

/** Every log line any adapter in this file writes, at debug level. */
const logs: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });

/** The address the server saw the client's TLS session come from (its own log, independent of status). */
function addressInServerLog(srv: LabServer, cn: string): string | undefined {
  const lines = srv
    .log()
    .split('\n')
    .filter((l) => l.includes(` [${cn}] Peer Connection Initiated`));
  return lines.at(-1)?.split(' ')[2];
}

/** The IPv4 and IPv6 addresses the server pushed to the client (from the client's log). */
function pushedAddresses(c: LabClient): [string | null, string | null] {
  const push =
    c
      .log()
      .split('\n')
      .find((l) => l.includes('PUSH_REPLY')) ?? '';
  return [/,ifconfig (\S+) /.exec(push)?.[1] ?? null, /,ifconfig-ipv6 ([^/\s]+)\//.exec(push)?.[1] ?? null];
}

function byUser(sessions: SessionReport[], user: string): SessionReport {
  const s = sessions.filter((x) => x.userName === user);
  assert.equal(s.length, 1, `exactly one session of ${user}: ${JSON.stringify(sessions)}`);
  return s[0]!;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const COMBOS: [LabMode, LabProto][] = [
  ['authorize', 'udp4'],
  ['authorize', 'tcp4'],
  ['observe', 'udp4'],
  ['observe', 'tcp4'],
];

describe('OpenVPN adapter against a real daemon', { skip }, () => {
  let lab: OpenVpnLab;
  before(async () => {
    lab = await OpenVpnLab.create();
  });
  after(async () => {
    await lab?.close();
  });

  for (const [mode, proto] of COMBOS) {
    describe(`${mode} mode over ${proto}`, () => {
      let srv: LabServer;
      let adapter: OpenVpnAdapter;
      const events = new AdapterEventLog();
      const clients: Record<string, LabClient> = {};
      let first: SessionReport[] = [];

      const snapshot = async () => {
        const from = events.mark();
        await adapter.snapshot();
        return events.waitFor('snapshot', () => true, { from });
      };

      before(async () => {
        // One server of the four also hands out IPv6 addresses.
        srv = await lab.startServer({ proto, mode, ipv6: mode === 'authorize' && proto === 'tcp4' });
        adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger, observePollMs: 250 });
        adapter.setBlocks([]); // the control plane's first list (none): CONNECTs are held until it comes
        adapter.start(events.push);
        await events.waitFor('snapshot');
        const started = await Promise.all(['alice', 'bob', 'carol'].map((user) => srv.startClient({ user })));
        for (const c of started) clients[c.user!] = c;
      });
      after(async () => {
        await adapter?.stop();
        await srv?.stopAll();
      });

      test('the snapshot lists exactly the connected clients, with their users and addresses', async () => {
        const snap = await snapshot();
        assert.equal(adapter.isConnected(), true);
        assert.deepEqual(snap.sessions.map((s) => s.userName).sort(), ['alice', 'bob', 'carol']);
        assert.ok(snap.daemonStartedAt !== null && snap.daemonStartedAt % 1000 === 0);
        for (const user of ['alice', 'bob', 'carol']) {
          const s = byUser(snap.sessions, user);
          // observe mode: the server asks for no username, so the user is the certificate's common name (= user here).
          assert.equal(s.commonName, user);
          assert.match(s.ref, new RegExp(`^${snap.daemonStartedAt! / 1000}:\\d+$`));
          assert.equal(s.clientAddress, addressInServerLog(srv, user));
          assert.deepEqual([s.virtualAddress, s.virtualAddress6], pushedAddresses(clients[user]!));
          assert.equal(s.virtualAddress6 !== null, srv.options.ipv6 === true);
          assert.ok(s.bytesReceived > 0 && s.bytesSent > 0);
          assert.ok(Math.abs(s.connectedAt - Date.now()) < 120_000);
          assert.match(s.clientVersion ?? '', /^2\.\d+/);
          assert.equal(s.clientPlatform, 'linux');
          // Both modes get >CLIENT:ESTABLISHED, so every session was also announced as it came up.
          // Built from the ENV block instead of the status row: the same fields must come out.
          const announced = await events.waitFor('session.connected', (e) => e.session.ref === s.ref);
          assert.deepEqual(
            { ...announced.session, bytesReceived: 0, bytesSent: 0 },
            { ...s, bytesReceived: 0, bytesSent: 0 },
          );
        }
        first = snap.sessions;
      });

      test('disconnect ends exactly that session: the client is told, exits, and the others stay', async (t) => {
        const alice = byUser(first, 'alice');
        const from = events.mark();
        const others = Object.values(clients)
          .filter((c) => c.user !== 'alice')
          .map((c) => [c, c.logLength()] as const);
        const t0 = performance.now();
        const outcome = await adapter.disconnect(
          { ref: alice.ref, userName: 'alice', mode: 'HALT', message: 'Ended by "ops" \\ bye' },
          3000,
        );
        const killMs = performance.now() - t0;
        assert.equal(outcome, 'ENDED');
        // At once, too: over UDP the daemon lists the killed instance for a few more seconds.
        assert.equal(await adapter.disconnect({ ref: alice.ref, userName: 'alice', mode: 'HALT' }, 3000), 'NOT_FOUND');
        await clients.alice!.waitForLog(/Halt command was pushed by server \('Ended by "ops" \\ bye'\)/);
        await clients.alice!.waitExited();
        t.diagnostic(
          `client-kill round trip ${killMs.toFixed(1)} ms; victim exited ${(performance.now() - t0).toFixed(0)} ms after the call`,
        );
        const snap = await snapshot();
        assert.deepEqual(snap.sessions.map((s) => s.userName).sort(), ['bob', 'carol']);
        for (const user of ['bob', 'carol']) {
          const [before, now] = [byUser(first, user), byUser(snap.sessions, user)];
          assert.deepEqual([now.ref, now.connectedAt], [before.ref, before.connectedAt]);
        }
        if (proto === 'udp4') {
          // The instance is freed by the adapter's `kill ip:port`, not left for the daemon's 5 s delayed exit.
          await srv.waitForLog(new RegExp(`MANAGEMENT: CMD 'kill ${escape(alice.clientAddress!)}'`));
          await srv.waitForLog(
            new RegExp(`alice/${escape(alice.clientAddress!)} SIGTERM\\[soft,\\] received, client-instance exiting`),
          );
        }
        const gone = await events.waitFor('session.disconnected', (e) => e.ref === alice.ref, { from });
        assert.equal(gone.cause, 'ADMIN_DISCONNECT');
        assert.equal(events.all('session.disconnected', from).filter((e) => e.ref === alice.ref).length, 1);
        for (const [c, mark] of others) {
          assert.equal(c.exited, false);
          assert.doesNotMatch(c.log().slice(mark), /SIGUSR1|SIGTERM|pushed by server/);
        }
      });

      test('the same ref again is NOT_FOUND', async () => {
        const alice = byUser(first, 'alice');
        assert.equal(await adapter.disconnect({ ref: alice.ref, userName: 'alice', mode: 'HALT' }, 3000), 'NOT_FOUND');
        assert.equal(
          await adapter.disconnect({ ref: 'not-a-ref', userName: 'alice', mode: 'HALT' }, 3000),
          'NOT_FOUND',
        );
      });

      test('RESTART: the client is told, reconnects, and comes back as a new session', async () => {
        const bob = byUser(first, 'bob');
        const from = events.mark();
        const mark = clients.bob!.logLength();
        assert.equal(
          await adapter.disconnect(
            { ref: bob.ref, userName: 'bob', mode: 'RESTART', message: 'Please reconnect' },
            3000,
          ),
          'ENDED',
        );
        await clients.bob!.waitForLog(/Connection reset command was pushed by server \('Please reconnect'\)/, {
          from: mark,
        });
        await clients.bob!.waitConnected({ from: mark });
        const back = await events.waitFor('session.connected', (e) => e.session.userName === 'bob', { from });
        assert.notEqual(back.session.ref, bob.ref);
        const gone = await events.waitFor('session.disconnected', (e) => e.ref === bob.ref, { from });
        assert.equal(gone.cause, 'ADMIN_DISCONNECT');
        const snap = await snapshot();
        assert.equal(byUser(snap.sessions, 'bob').ref, back.session.ref);
      });

      test('a client that quits by itself is reported as CLIENT_DISCONNECT', async () => {
        const carol = byUser(first, 'carol');
        const from = events.mark();
        await clients.carol!.stop();
        // UDP: the daemon drops the instance about 5 s after the client's exit notification.
        const gone = await events.waitFor('session.disconnected', (e) => e.ref === carol.ref, {
          from,
          timeoutMs: 20_000,
        });
        assert.equal(gone.cause, 'CLIENT_DISCONNECT');
        const snap = await snapshot();
        assert.deepEqual(
          snap.sessions.map((s) => s.userName),
          ['bob'],
        );
      });
    });
  }

  test('no adapter log line carries a client or management password', () => {
    const text = logs.join('\n');
    // The log does record client notifications, including the CONNECT blocks that carry the password.
    assert.ok(text.includes('"event":"CONNECT"') && text.includes('"username":"alice"'));
    assert.doesNotMatch(text, /password=|pw-alice|pw-bob|pw-carol|"password"/);
  });
});
