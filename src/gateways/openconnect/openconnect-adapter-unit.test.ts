/**
 * The OpenConnect adapter against a scripted occtl: the cases a real ocserv cannot be made to show on
 * demand (a worker pid reused between two commands, a confirmation without the tunnel leaving, occtl
 * hanging). The real-daemon behaviour is in openconnect-adapter.test.ts.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayUnavailableError, type OpenConnectGatewayConfig } from '../adapter.js';
import { waitFor } from '../../../test/support/wait.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { OcctlTimeoutError, type OcctlResult } from './occtl-client.js';
import { occtlUsersJson } from './occtl-fixtures.test-support.js';
import type { EventStreamHandlers } from './occtl-events.js';
import { OpenConnectAdapter } from './openconnect-adapter.js';

const config: OpenConnectGatewayConfig = {
  id: 'oc-unit',
  name: 'unit',
  region: 'test',
  protocol: 'openconnect',
  mode: 'observe',
  occtlSocket: '/unused',
  snapshotIntervalMs: 60_000,
};
const STATUS = '{"Status":"online","Server PID":100,"raw_up_since":1796551381}';
const A = { id: 501, user: 'alice', safeId: 'AAAAAAaaaaaaBBBBBBbbbbbbCCCC=' };
const B = { id: 502, user: 'bob', safeId: 'BBBBBBbbbbbbCCCCCCccccccDDDD=' };

/** A scripted ocserv: `users` is what it lists; every occtl command line run is recorded. */
class ScriptedOcserv {
  users = [A, B];
  readonly commands: string[] = [];
  /** Replaces the answer to a command (by its first words). */
  override: ((args: string[]) => Promise<OcctlResult> | null) | null = null;
  handlers: EventStreamHandlers | null = null;

  readonly runner = async (args: string[]): Promise<OcctlResult> => {
    this.commands.push(args.join(' '));
    const custom = this.override?.(args);
    if (custom) return custom;
    const line = args.join(' ');
    if (line === '-j show status') return ok(STATUS);
    if (line === '-j show users') return ok(occtlUsersJson(...this.users));
    const show = /^-j show id (\d+)$/.exec(line);
    if (show) {
      const u = this.users.filter((x) => x.id === Number(show[1]));
      return u.length ? ok(occtlUsersJson(...u)) : { code: 2, stdout: '[\n]\n', stderr: '' };
    }
    const kill = /^disconnect id (\d+)$/.exec(line);
    if (kill) {
      const before = this.users.length;
      this.users = this.users.filter((x) => x.id !== Number(kill[1]));
      return this.users.length < before
        ? ok(`connection ID '${kill[1]}' was disconnected\n`)
        : { code: 1, stdout: `could not disconnect ID '${kill[1]}'\n`, stderr: '' };
    }
    return { code: 1, stdout: '', stderr: 'unknown command' };
  };
}

function ok(stdout: string): OcctlResult {
  return { code: 0, stdout, stderr: '' };
}

describe('OpenConnect adapter (scripted occtl)', () => {
  let adapter: OpenConnectAdapter | undefined;
  afterEach(async () => adapter?.stop());

  async function linked(
    ocserv: ScriptedOcserv,
    entry: Partial<OpenConnectGatewayConfig> = {},
  ): Promise<{ adapter: OpenConnectAdapter; events: AdapterEventLog }> {
    const events = new AdapterEventLog();
    adapter = new OpenConnectAdapter(
      { ...config, ...entry },
      {
        runner: ocserv.runner,
        gonePollMs: 5,
        probe: { intervalMs: 60_000 },
        resetWorker: (pid, serverPid) => {
          ocserv.commands.push(`kill ${pid} of ${serverPid}`);
          ocserv.users = ocserv.users.filter((u) => u.id !== pid);
        },
        eventStream: (h) => ({
          start: () => {
            ocserv.handlers = h;
            queueMicrotask(() => h.onReady());
          },
          stop: () => h.onEnd('stopped'),
        }),
      },
    );
    adapter.start(events.push);
    await events.waitFor('snapshot');
    return { adapter, events };
  }

  test('a pid that now names another tunnel: nothing is sent', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    // alice's worker is gone and the OS gave its pid to a new worker, of another session.
    ocserv.users = [{ ...A, safeId: 'ZZZZZZzzzzzzYYYYYYyyyyyyXXXX=' }, B];
    assert.equal(
      await adapter.disconnect({ ref: `${A.id}:${A.safeId}`, userName: 'alice', mode: 'HALT' }, 1_000),
      'NOT_FOUND',
    );
    assert.deepEqual(
      ocserv.commands.filter((c) => c.startsWith('disconnect')),
      [],
    );
    assert.equal(ocserv.users.length, 2);
  });

  test('ENDED only once ocserv confirmed and the tunnel has left the listing', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    let listedFor = 3;
    const kept = [...ocserv.users];
    ocserv.override = (args) => {
      // ocserv confirms at once but lists the tunnel for three more reads.
      if (
        args.join(' ') === `-j show id ${B.id}` &&
        ocserv.commands.some((c) => c.startsWith('disconnect')) &&
        listedFor-- > 0
      )
        return Promise.resolve(ok(occtlUsersJson(kept[1]!)));
      return null;
    };
    assert.equal(
      await adapter.disconnect({ ref: `${B.id}:${B.safeId}`, userName: 'bob', mode: 'HALT' }, 2_000),
      'ENDED',
    );
    assert.equal(listedFor, -1, 'asked until it was gone');
  });

  test("RESTART kills the tunnel's worker (of the linked ocserv) instead of telling the client to go", async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    assert.equal(
      await adapter.disconnect({ ref: `${B.id}:${B.safeId}`, userName: 'bob', mode: 'RESTART' }, 1_000),
      'ENDED',
    );
    assert.deepEqual(
      ocserv.commands.filter((c) => c.startsWith('kill') || c.startsWith('disconnect')),
      [`kill ${B.id} of 100`],
    );
  });

  test('confirmed but still listed at the deadline: unavailable, and it may still take effect', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    ocserv.override = (args) =>
      args[0] === 'disconnect' ? Promise.resolve(ok(`connection ID '${B.id}' was disconnected\n`)) : null;
    await assert.rejects(
      adapter.disconnect({ ref: `${B.id}:${B.safeId}`, userName: 'bob', mode: 'HALT' }, 200),
      (e) => e instanceof GatewayUnavailableError && e.mayTakeEffect && /still lists it/.test(e.message),
    );
  });

  test('occtl hanging on the command: unavailable, and it may still take effect', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    ocserv.override = (args) => (args[0] === 'disconnect' ? Promise.reject(new OcctlTimeoutError(args, 100)) : null);
    await assert.rejects(
      adapter.disconnect({ ref: `${B.id}:${B.safeId}`, userName: 'bob', mode: 'HALT' }, 1_000),
      (e) => e instanceof GatewayUnavailableError && e.mayTakeEffect,
    );
  });

  test('occtl hanging on the check before the command: unavailable, nothing sent, and it cannot take effect', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    ocserv.override = (args) => (args[1] === 'show' ? Promise.reject(new OcctlTimeoutError(args, 100)) : null);
    const before = ocserv.commands.length;
    await assert.rejects(
      adapter.disconnect({ ref: `${B.id}:${B.safeId}`, userName: 'bob', mode: 'HALT' }, 1_000),
      (e) => e instanceof GatewayUnavailableError && !e.mayTakeEffect,
    );
    assert.equal(ocserv.commands.slice(before).filter((c) => c.startsWith('disconnect')).length, 0, 'no disconnect');
  });

  test('link down: fails at once and runs nothing', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter, events } = await linked(ocserv);
    ocserv.handlers!.onEnd('events: server closed the connection');
    await events.waitFor('link-down');
    const before = ocserv.commands.length;
    await assert.rejects(
      adapter.disconnect({ ref: `${A.id}:${A.safeId}`, userName: 'alice', mode: 'HALT' }, 1_000),
      (e) => e instanceof GatewayUnavailableError && !e.mayTakeEffect,
    );
    assert.equal(
      ocserv.commands.slice(before).filter((c) => !c.includes('status') && !c.includes('show users')).length,
      0,
    );
  });

  test('blockSeconds is refused before anything is sent (ocserv cannot hold a block by itself)', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter } = await linked(ocserv);
    assert.equal(adapter.capabilities().canBlock, false);
    await assert.rejects(
      adapter.disconnect({ ref: `${A.id}:${A.safeId}`, userName: 'alice', mode: 'HALT', blockSeconds: 60 }, 1_000),
      GatewayUnavailableError,
    );
    assert.deepEqual(
      ocserv.commands.filter((c) => c.startsWith('disconnect')),
      [],
    );
  });

  test("authorize mode: the block is in the file before the tunnel is ended; the control plane's list replaces it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-ocblk-'));
    try {
      const blockFile = join(dir, 'blocks');
      const ocserv = new ScriptedOcserv();
      let fileAtDisconnect = '';
      ocserv.override = (args) => {
        if (args[0] === 'disconnect') fileAtDisconnect = readFileSync(blockFile, 'utf8');
        return null;
      };
      const { adapter } = await linked(ocserv, { mode: 'authorize', blockFile });
      assert.equal(adapter.capabilities().canBlock, true);
      const t0 = Date.now();
      assert.equal(
        await adapter.disconnect(
          { ref: `${A.id}:${A.safeId}`, userName: 'alice', mode: 'HALT', blockSeconds: 600 },
          1_000,
        ),
        'ENDED',
      );
      const [until, name] = fileAtDisconnect.trim().split(' ');
      assert.equal(name, 'alice');
      assert.ok(Number(until) >= t0 + 600_000 && Number(until) <= Date.now() + 600_000, fileAtDisconnect);
      adapter.setBlocks([{ userName: 'bob smith', until: Date.now() + 60_000 }], ['alice']);
      await waitFor(
        () =>
          readFileSync(blockFile, 'utf8').endsWith(' bob smith\n') &&
          !readFileSync(blockFile, 'utf8').includes('alice'),
        2000,
        'the block file rewritten',
        10,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a block file that cannot be written: nothing is sent, and the gateway says it cannot block', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter, events } = await linked(ocserv, { mode: 'authorize', blockFile: '/nonexistent-dir/blocks' });
    await assert.rejects(
      adapter.disconnect({ ref: `${A.id}:${A.safeId}`, userName: 'alice', mode: 'HALT', blockSeconds: 60 }, 1_000),
      (e) => e instanceof GatewayUnavailableError && !e.mayTakeEffect && /block file/.test(e.message),
    );
    assert.deepEqual(
      ocserv.commands.filter((c) => c.startsWith('disconnect')),
      [],
    );
    await events.waitFor('capabilities');
    assert.equal(adapter.capabilities().canBlock, false);
    assert.match(adapter.capabilities().warning ?? '', /ENOENT/);
  });

  test('a new ocserv instance (another main pid) ends every tunnel of the old one as a restart', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter, events } = await linked(ocserv);
    const from = events.mark();
    ocserv.users = [];
    ocserv.override = (args) =>
      args.join(' ') === '-j show status'
        ? Promise.resolve(ok('{"Status":"online","Server PID":200,"raw_up_since":1796551999}'))
        : null;
    await adapter.snapshot();
    assert.deepEqual(
      events
        .all('session.disconnected', from)
        .map((e) => [e.ref, e.cause])
        .sort(),
      [
        [`${A.id}:${A.safeId}`, 'GATEWAY_RESTART'],
        [`${B.id}:${B.safeId}`, 'GATEWAY_RESTART'],
      ],
    );
    assert.equal(events.all('snapshot', from).at(-1)?.daemonStartedAt, 1_796_551_999_000);
  });

  test('a garbled listing is an error, not an empty gateway', async () => {
    const ocserv = new ScriptedOcserv();
    const { adapter, events } = await linked(ocserv);
    const from = events.mark();
    ocserv.override = (args) =>
      args.join(' ') === '-j show users' ? Promise.resolve(ok('[\n  {\n    "ID": 5,')) : null;
    await assert.rejects(adapter.snapshot());
    assert.deepEqual(events.all('snapshot', from), []);
    assert.deepEqual(events.all('session.disconnected', from), []);
  });
});
