/**
 * The adapter contract: what every gateway adapter (OpenVPN, WireGuard, OpenConnect, IKEv2) and every
 * test double must show, written once and run against each (adapter.test.ts for the double, each
 * adapter's `<protocol>-contract.test.ts` against its real daemon and real clients).
 *
 * How a new adapter plugs in: write an `AdapterHarness` for it and call
 * `adapterContract('<name>', makeHarness, { skip })` from a test file beside it. A harness
 * - owns one daemon of the protocol (started by `makeHarness`, already running when it resolves),
 *   and makes a fresh adapter for it with `createAdapter()`;
 * - connects real clients (`connect(user)` resolves once the daemon has the tunnel up) and says
 *   whether a client's tunnel carries traffic now (`passes()`: real traffic where the protocol has
 *   it, else the client process being connected);
 * - stops the daemon (`stopDaemon`, by its PID) and starts it again (`startDaemon`, with the same
 *   configuration; resolves once every client the harness started is back up, as a real client
 *   reconnects by itself);
 * - lets a user try to come back (`comeBack(user)`) the way the protocol allows: OpenVPN a new client
 *   of that user, WireGuard the peer re-added behind Switchboard's back;
 * - says whether its gateway can block (`canBlock`), and removes everything it made (`close`).
 * Under `CI=true` a harness whose daemon binary is missing must make the suite fail, not skip (pass
 * `skip` from the protocol's own `…SkipReason()`, which throws there).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayUnavailableError, type GatewayAdapter } from './adapter.js';
import { AdapterEventLog } from './adapter-event-log.test-support.js';
import type { SessionReport } from '../domain/session.js';
import { waitFor } from '../../test/support/wait.js';

export interface HarnessClient {
  readonly user: string;
  /** Whether the client's tunnel works now. */
  passes(): Promise<boolean>;
}

export interface AdapterHarness {
  /** Whether the gateway can deny a user's return for a while (a disconnect's `blockSeconds`). */
  readonly canBlock: boolean;
  createAdapter(): GatewayAdapter;
  connect(user: string): Promise<HarnessClient>;
  /** The user tries to get back in (a new client, or the peer re-added behind Switchboard's back). */
  comeBack(user: string): Promise<void>;
  stopDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  close(): Promise<void>;
}

export interface ContractOptions {
  skip?: string | false;
  /** How long a condition may take: real daemons need longer than a double (default 20 s). */
  timeoutMs?: number;
  /**
   * The block the contract sets: longer than it takes to see the tunnel stop and a new client reach the
   * daemon (default 8 s: a 3 s block ran out first on a loaded machine, and the client got back in).
   */
  blockSeconds?: number;
}

/** The users the contract connects, in this order (a harness may prepare their credentials up front). */
export const CONTRACT_USERS = ['alice', 'bob', 'carol'];
const USERS = CONTRACT_USERS;

export function adapterContract(
  name: string,
  makeHarness: () => Promise<AdapterHarness>,
  options: ContractOptions = {},
): void {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const BLOCK_SECONDS = options.blockSeconds ?? 8;
  // In order, whatever the enclosing suite's concurrency (a test's concurrency is its parent's unless set).
  describe(`adapter contract: ${name}`, { skip: options.skip ?? false, concurrency: 1 }, () => {
    let h: AdapterHarness;
    let adapter: GatewayAdapter;
    const events = new AdapterEventLog();
    const clients = new Map<string, HarnessClient>();
    /** Each user's session as the adapter announced it last. */
    const sessions = new Map<string, SessionReport>();

    const snapshot = async () => {
      const from = events.mark();
      await adapter.snapshot();
      return events.waitFor('snapshot', () => true, { from, timeoutMs });
    };
    const announced = async (user: string, from: number) => {
      const e = await events.waitFor('session.connected', (c) => c.session.userName === user, { from, timeoutMs });
      sessions.set(user, e.session);
      return e.session;
    };
    const connect = async (user: string) => {
      const from = events.mark();
      clients.set(user, await h.connect(user));
      return announced(user, from);
    };

    before(async () => {
      h = await makeHarness();
      adapter = h.createAdapter();
      adapter.start(events.push);
      await events.waitFor('snapshot', () => true, { timeoutMs });
      for (const user of USERS) await connect(user);
    });
    after(async () => {
      await adapter?.stop();
      await h?.close();
    });

    test('each client is announced as session.connected, and the snapshot lists exactly those sessions', async () => {
      const snap = await snapshot();
      assert.equal(adapter.isConnected(), true);
      assert.deepEqual(snap.sessions.map((s) => s.userName).sort(), USERS);
      for (const user of USERS)
        assert.equal(snap.sessions.find((s) => s.userName === user)?.ref, sessions.get(user)!.ref);
      assert.equal(new Set(snap.sessions.map((s) => s.ref)).size, USERS.length, 'one ref per session');
    });

    test('disconnect ends exactly that session: ENDED, one ADMIN_DISCONNECT, its tunnel stops, the others never do', async () => {
      const victim = sessions.get('alice')!;
      const from = events.mark();
      assert.equal(await adapter.disconnect({ ref: victim.ref, userName: 'alice', mode: 'HALT' }, 5000), 'ENDED');
      const gone = await events.waitFor('session.disconnected', (e) => e.ref === victim.ref, { from, timeoutMs });
      assert.equal(gone.cause, 'ADMIN_DISCONNECT');
      await waitFor(
        async () => !(await clients.get('alice')!.passes()),
        timeoutMs,
        'the disconnected client to stop passing',
        100,
      );
      for (const user of ['bob', 'carol'])
        assert.equal(await clients.get(user)!.passes(), true, `${user} still passes`);
      const snap = await snapshot();
      assert.deepEqual(
        snap.sessions.map((s) => [s.userName, s.ref]).sort(),
        ['bob', 'carol'].map((u) => [u, sessions.get(u)!.ref]),
      );
      assert.deepEqual(
        events.all('session.disconnected', from).map((e) => e.ref),
        [victim.ref],
        'one end, of that session only',
      );
      clients.delete('alice'); // halted: she stays out (the restart below brings back the others only)
    });

    test('NOT_FOUND: a session already ended, and a ref the daemon never had', async () => {
      assert.equal(
        await adapter.disconnect({ ref: sessions.get('alice')!.ref, userName: 'alice', mode: 'HALT' }, 5000),
        'NOT_FOUND',
      );
      assert.equal(
        await adapter.disconnect({ ref: 'no-such-ref', userName: 'nobody', mode: 'HALT' }, 5000),
        'NOT_FOUND',
      );
    });

    test('RESTART: the client may come back at once, as a new session with a new ref', async () => {
      const bob = sessions.get('bob')!;
      const from = events.mark();
      assert.equal(await adapter.disconnect({ ref: bob.ref, userName: 'bob', mode: 'RESTART' }, 5000), 'ENDED');
      const back = await announced('bob', from);
      assert.notEqual(back.ref, bob.ref);
      assert.equal(
        (await events.waitFor('session.disconnected', (e) => e.ref === bob.ref, { from, timeoutMs })).cause,
        'ADMIN_DISCONNECT',
      );
      await waitFor(() => clients.get('bob')!.passes(), timeoutMs, 'bob to pass again', 100);
      assert.equal(await clients.get('carol')!.passes(), true);
    });

    test('block where the gateway can; refused, with nothing done, where it cannot', async () => {
      const carol = sessions.get('carol')!;
      if (!h.canBlock) {
        assert.equal(adapter.capabilities?.().canBlock ?? false, false);
        await assert.rejects(
          adapter.disconnect({ ref: carol.ref, userName: 'carol', mode: 'HALT', blockSeconds: BLOCK_SECONDS }, 5000),
          (e: unknown) => e instanceof GatewayUnavailableError && !e.mayTakeEffect,
        );
        assert.ok(
          (await snapshot()).sessions.some((s) => s.ref === carol.ref),
          'the session is untouched',
        );
        return;
      }
      assert.equal(adapter.capabilities?.().canBlock, true);
      const from = events.mark();
      const blockedUntil = Date.now() + BLOCK_SECONDS * 1000;
      assert.equal(
        await adapter.disconnect(
          { ref: carol.ref, userName: 'carol', mode: 'HALT', blockSeconds: BLOCK_SECONDS },
          5000,
        ),
        'ENDED',
      );
      // What the control plane sends once it has committed the block.
      adapter.setBlocks?.([{ userName: 'carol', until: blockedUntil }]);
      await waitFor(
        async () => !(await clients.get('carol')!.passes()),
        timeoutMs,
        'the blocked client to stop passing',
        100,
      );
      await h.comeBack('carol');
      const denied = await events.waitFor('auth-denied', (e) => e.userName === 'carol', { from, timeoutMs });
      assert.ok(denied.reason.length > 0);
      assert.equal(
        events.all('session.connected', from).filter((e) => e.session.userName === 'carol').length,
        0,
        'not back while blocked',
      );
      // Still not back just before the block ends. From there on a new session counts: a gateway that
      // restores what it held when the block ends (WireGuard puts the peer back with its configuration,
      // and the client's next handshake is a session) may announce it before the client is brought back.
      await waitFor(
        () => Date.now() > blockedUntil - 300,
        BLOCK_SECONDS * 1000 + timeoutMs,
        'the block to near its end',
        50,
      );
      // One synchronous step (the log only grows between turns): every event so far came while blocked.
      const stillBlocked = Date.now() < blockedUntil;
      const mark = events.mark();
      const early = events.all('session.connected', from).filter((e) => e.session.userName === 'carol');
      if (stillBlocked) assert.equal(early.length, 0, 'not back at any time while blocked');
      await waitFor(() => Date.now() > blockedUntil + 200, timeoutMs, 'the block to end', 50);
      await h.comeBack('carol');
      const back = await announced('carol', mark);
      assert.notEqual(back.ref, carol.ref);
    });

    test('daemon stopped: link-down, GatewayUnavailableError well before the deadline; started again: the clients back as new sessions, no phantom', async () => {
      const before = [...sessions.values()].map((s) => s.ref);
      const startedBefore = (await snapshot()).daemonStartedAt;
      let from = events.mark();
      await h.stopDaemon();
      await events.waitFor('link-down', () => true, { from, timeoutMs });
      assert.equal(adapter.isConnected(), false);
      const t0 = Date.now();
      await assert.rejects(
        adapter.disconnect({ ref: before[0]!, userName: 'bob', mode: 'HALT' }, 20_000),
        GatewayUnavailableError,
      );
      assert.ok(Date.now() - t0 < 10_000, 'fails fast, not at the deadline');
      from = events.mark();
      await h.startDaemon();
      for (const user of clients.keys()) await announced(user, from);
      const snap = await snapshot();
      assert.deepEqual(snap.sessions.map((s) => s.userName).sort(), [...clients.keys()].sort());
      for (const s of snap.sessions) assert.ok(!before.includes(s.ref), `${s.userName} is a new session`);
      for (const ref of before) {
        const ended = events.all('session.disconnected').some((e) => e.ref === ref);
        assert.ok(
          ended || snap.daemonStartedAt !== startedBefore,
          `the old session ${ref} ended or belongs to an instance that is gone`,
        );
      }
      for (const c of clients.values()) assert.equal(await c.passes(), true, `${c.user} passes after the restart`);
    });
  });
}
