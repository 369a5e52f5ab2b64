/**
 * 60 s of mixed load on loopback against `switchboard start` (a separate process, SQLite) attached to
 * a REAL OpenVPN gateway: 16 workers querying as fast as they are answered (session pages, single
 * sessions, gateways, audit pages) while real clients keep connecting and being disconnected through
 * the API. Expected, and written down here:
 * - not one error response: every query 200 without `errors`, every disconnect `true`;
 * - the server's resident memory, sampled every 2 s, stays within a bound after warm-up
 *   (≤ 1.5 × the warm-up value + 64 MiB), i.e. no growth with the number of requests;
 * - at the end the store matches the daemon: the sessions online are exactly the clients connected.
 * The loop is bounded by time (SWITCHBOARD_CHAOS_LOAD_MS, default 60 000) and stays on 127.0.0.1.
 * Rate limits are off: this measures the server, not the limiter.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { gql as gqlAt, onlineIds, type Gql } from '../support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from '../support/openvpn-lab.js';
import { SwitchboardProcess } from '../support/switchboard-process.js';
import { waitFor } from '../support/wait.js';
import { assertNoSecrets } from '../support/secret-scan.js';

const skip = openvpnSkipReason();
const LOAD_MS = Number(process.env.SWITCHBOARD_CHAOS_LOAD_MS ?? 60_000);
const WORKERS = 16;
const BASELINE_CLIENTS = 20;
const GW = 'ovpn-load';
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const PAGE =
  'query ($gw: String, $after: String) { onlineSessions(first: 50, after: $after, filter: { gatewayId: $gw }) { totalCount edges { cursor node { id user { name } gateway { id name } clientAddress virtualAddress connectedAt confirmed } } pageInfo { hasNextPage endCursor } } }';

let lab: OpenVpnLab;
let server: LabServer;
let sb: SwitchboardProcess;
let url = '';
let admin = '';
const clients = new Map<string, LabClient>();

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** What the store, the daemon and the server said about `user`, for a failure message. */
function diagnose(user: string): string {
  const db = new Database(join(lab.dir, 'switchboard.db'), { readonly: true });
  try {
    const rows = db
      .prepare('select ref, connected_at, last_seen_at, ended_at, end_cause from sessions where user_name = ?')
      .all(user);
    const daemon = server
      .log()
      .split('\n')
      .filter((l) => l.includes(user))
      .slice(-12)
      .join('\n');
    return `store rows for ${user}: ${JSON.stringify(rows)}\ndaemon log:\n${daemon}\n${sb.tail(30)}`;
  } finally {
    db.close();
  }
}

const gql: Gql = (query, variables) => gqlAt(url, admin, query, variables);
const onlineUsers = () => onlineIds(gql, GW);

before(async () => {
  if (skip) return;
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: 'load-mgmt-pw' });
  const configFile = join(lab.dir, 'gateways.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      gateways: [
        {
          id: GW,
          name: 'Load lab',
          region: 'lab',
          protocol: 'openvpn',
          mode: 'observe',
          management: server.management,
          managementPasswordFile: server.managementPasswordFile,
          snapshotIntervalSeconds: 2,
        },
      ],
    }),
  );
  sb = SwitchboardProcess.start('switchboard (load)', ['start'], {
    SWITCHBOARD_PORT: '0',
    SWITCHBOARD_DATABASE_URL: join(lab.dir, 'switchboard.db'),
    SWITCHBOARD_CONFIG: configFile,
    SWITCHBOARD_LOG_LEVEL: 'info',
    SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0',
    SWITCHBOARD_RATE_LIMIT_PER_IP: '0',
  });
  admin = (await sb.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
  url = (await sb.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
  for (let i = 0; i < BASELINE_CLIENTS; i += 10) {
    const users = Array.from({ length: 10 }, (_, k) => `base${i + k}`);
    const started = await Promise.all(users.map((user) => server.startClient({ user })));
    users.forEach((u, k) => clients.set(u, started[k]!));
  }
});

after(async () => {
  await sb?.stop();
  await lab?.close();
});

test(
  `mixed load for ${LOAD_MS / 1000} s: no error response, bounded memory, store matches the daemon`,
  { skip, timeout: LOAD_MS + 120_000 },
  async () => {
    await waitFor(async () => (await onlineUsers()).size === BASELINE_CLIENTS, 30_000, 'baseline sessions online');
    const errors: string[] = [];
    const counts = { queries: 0, connects: 0, disconnects: 0 };
    const end = Date.now() + LOAD_MS;
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssKiB(sb.pid)), 2000);

    const worker = async (w: number) => {
      let after: string | null = null;
      for (let i = 0; Date.now() < end; i++) {
        const kind = (i + w) % 4;
        const r =
          kind === 0
            ? await gql(PAGE, { gw: GW, after })
            : kind === 1
              ? await gql('query ($id: String!) { onlineSession(id: $id) { id user { name } } }', {
                  id: 'sess_000000000000',
                })
              : kind === 2
                ? await gql('{ gateways { id agentConnected sessionsOnline } }')
                : await gql('{ auditEvents(first: 20) { totalCount edges { node { id action outcome } } } }');
        counts.queries++;
        if (r.status !== 200 || r.json.errors !== undefined) errors.push(`${r.status} ${r.text.slice(0, 200)}`);
        if (kind === 0) {
          const page = r.json.data?.onlineSessions as
            { pageInfo: { hasNextPage: boolean; endCursor: string | null } } | undefined;
          after = page?.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
        }
      }
    };

    // Churn: a client connects, its session is found, and it is disconnected through the API.
    const churn = async () => {
      for (let n = 0; Date.now() < end; n++) {
        const user = `churn${n}`;
        const c = await server.startClient({ user });
        clients.set(user, c);
        counts.connects++;
        const id = await waitFor(async () => (await onlineUsers()).get(user), 15_000, `${user} online`).catch(
          (e: Error) => {
            throw new Error(`${e.message}\n${diagnose(user)}`);
          },
        );
        const r = await gql(SEED, { onlineSessionId: id });
        counts.disconnects++;
        if (r.status !== 200 || r.json.data?.disconnectBySessionId !== true)
          errors.push(`disconnect ${user}: ${r.status} ${r.text.slice(0, 200)}`);
        await waitFor(() => c.exited, 15_000, `${user} halted`);
      }
    };

    await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), churn()]);
    clearInterval(sampler);

    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} error responses`);
    assert.ok(counts.queries > 0 && counts.disconnects > 0, JSON.stringify(counts));
    const warm = rss[Math.min(rss.length - 1, Math.floor(rss.length / 4))]!;
    const peak = Math.max(...rss.slice(Math.floor(rss.length / 4)));
    const bound = warm * 1.5 + 64 * 1024;
    assert.ok(
      peak <= bound,
      `resident memory grew from ${warm} KiB after warm-up to ${peak} KiB (bound ${Math.round(bound)} KiB)`,
    );
    console.log(
      `mixed load: ${counts.queries} queries (${Math.round(counts.queries / (LOAD_MS / 1000))}/s), ${counts.connects} connects, ${counts.disconnects} disconnects; RSS ${warm} → peak ${peak} KiB`,
    );

    await waitFor(
      async () => {
        const running = [...clients]
          .filter(([, c]) => !c.exited)
          .map(([u]) => u)
          .sort();
        return JSON.stringify([...(await onlineUsers()).keys()].sort()) === JSON.stringify(running);
      },
      20_000,
      'the store to match the daemon',
    );
    assert.ok(sb.running, 'the server is still up');
    assertNoSecrets(sb.output(), [admin, 'load-mgmt-pw'], sb.name);
  },
);
