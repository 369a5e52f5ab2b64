/**
 * The systemd units of deploy/systemd, tested for real where systemd is not PID 1: `systemd-analyze
 * verify` accepts them without a warning, and each unit's own ExecStart runs as systemd would start it
 * (its WorkingDirectory, Environment and EnvironmentFile, the example file itself, with the install
 * paths mapped to this checkout and a temporary /etc and /var/lib), against a fresh PostgreSQL
 * database and a nats-server with mutual TLS and operator-mode credentials, as deploy.md sets up.
 * Then the unit's ExecReload (SIGHUP) reloads the gateway file, and its KillSignal sent to that very
 * PID ends it with exit 0 within its TimeoutStopSec.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { makeNatsPki, NatsOperator, tlsBlock } from './support/nats-secure.js';
import { reapOnExit } from '../src/lab/child-reaper.js';
import { ensureBuild } from '../scripts/ensure-build.mjs';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import {
  environmentAssignments,
  environmentFile,
  splitCommandLine,
  SystemdUnit,
  timespanMs,
} from './support/systemd-unit.js';
import { waitFor } from './support/wait.js';

const ROOT = join(import.meta.dirname, '..');
const UNITS = join(ROOT, 'deploy', 'systemd');
const START_UNIT = join(UNITS, 'switchboard.service');
const AGENT_UNIT = join(UNITS, 'switchboard-agent.service');

function systemdAnalyzeSkipReason(): string | false {
  if (spawnSync('systemd-analyze', ['--version']).status === 0) return false;
  if (process.env.CI === 'true') {
    console.error('systemd-analyze cannot run; CI requires it, so this test will fail');
    return false;
  }
  return 'systemd-analyze is not installed; skipping (set CI=true to make this a failure)';
}

test('systemd-analyze verify accepts both units without a warning', { skip: systemdAnalyzeSkipReason() }, () => {
  const r = spawnSync('systemd-analyze', ['verify', START_UNIT, AGENT_UNIT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warning (an unknown key is only a warning)');
  for (const unit of [new SystemdUnit(START_UNIT), new SystemdUnit(AGENT_UNIT)]) {
    assert.equal(unit.get('Service', 'KillSignal'), 'SIGTERM');
    assert.equal(unit.get('Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(unit.get('Service', 'RestartPreventExitStatus'), '2', 'an invalid setting is not restarted in a loop');
  }
});

/** A unit's service process, started from its own ExecStart, held by PID as systemd holds MAINPID. */
class UnitProcess {
  readonly pid: number;
  private text = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly unit: SystemdUnit,
    private readonly map: (s: string) => string,
    overrides: Record<string, string>,
  ) {
    const cwd = map(unit.get('Service', 'WorkingDirectory'));
    mkdirSync(cwd, { recursive: true });
    // What systemd gives a system service, then Environment=, then EnvironmentFile= (later wins).
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: cwd,
      USER: 'switchboard',
      LOGNAME: 'switchboard',
    };
    for (const value of unit.all('Service', 'Environment')) Object.assign(env, environmentAssignments(value));
    for (const file of unit.all('Service', 'EnvironmentFile')) {
      for (const [k, v] of Object.entries(environmentFile(readFileSync(map(file), 'utf8')))) env[k] = map(v);
    }
    const argv = splitCommandLine(unit.get('Service', 'ExecStart')).map(map);
    this.child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...env, ...overrides },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = reapOnExit(this.child);
    for (const stream of [this.child.stdout!, this.child.stderr!])
      stream.on('data', (d: Buffer) => void (this.text += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  output(): string {
    return this.text;
  }

  async waitForOutput(pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
    return waitFor(
      () => pattern.exec(this.text),
      ms,
      () => `${pattern} in the output of ${this.unit.path}:\n${this.text.slice(-3000)}`,
    );
  }

  /** Runs the unit's ExecReload with $MAINPID, as `systemctl reload` would. */
  reload(): void {
    const argv = splitCommandLine(this.unit.get('Service', 'ExecReload')).map((w) =>
      w.replaceAll('$MAINPID', String(this.pid)),
    );
    execFileSync(argv[0]!, argv.slice(1));
  }

  /**
   * Sends the unit's KillSignal to its main PID, as `systemctl stop` does, and resolves with how it
   * ended; one still running after TimeoutStopSec is what systemd would SIGKILL: a failure here.
   */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    process.kill(this.pid, this.unit.get('Service', 'KillSignal') as NodeJS.Signals);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`still running after TimeoutStopSec:\n${this.text.slice(-3000)}`)),
        timespanMs(this.unit.get('Service', 'TimeoutStopSec')),
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
      this.child.kill('SIGKILL');
    }
  }
}

const skip = systemdAnalyzeSkipReason() || natsServerSkipReason() || (await postgresSkipReason());

describe(
  'the units run as systemd would run them: ready, reloaded by ExecReload, stopped by KillSignal',
  { skip },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-systemd-'));
    const etc = join(dir, 'etc', 'switchboard');
    /** The units' install paths, mapped into this checkout and the temporary directory. */
    const map = (s: string) =>
      s
        .replaceAll('/opt/switchboard', ROOT)
        .replaceAll('/etc/switchboard', etc)
        .replaceAll('/var/lib/switchboard', join(dir, 'state'));
    const operator = new NatsOperator();
    const running: UnitProcess[] = [];
    let nats: TestNatsServer;
    let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
    const gatewayFile = (name: string, ids: string[]) => {
      const gateways = ids.map((id) => ({
        id,
        name: `Gateway ${id}`,
        region: 'lab',
        protocol: 'openvpn',
        management: `unix:${join(dir, `${id}.sock`)}`,
      }));
      writeFileSync(join(etc, name), JSON.stringify({ gateways }));
      return join(etc, name);
    };

    before(async () => {
      // The files deploy.md puts under /etc/switchboard: the example env files and the NATS credentials.
      const natsDir = join(etc, 'nats');
      mkdirSync(natsDir, { recursive: true });
      const pki = makeNatsPki(natsDir); // ca.pem, client.pem, client.key: the names the env files use
      writeFileSync(join(natsDir, 'control-plane.creds'), operator.user('control-plane').creds, { mode: 0o600 });
      writeFileSync(join(natsDir, 'agent.creds'), operator.user('agent').creds, { mode: 0o600 });
      for (const f of ['switchboard.env', 'agent.env']) writeFileSync(join(etc, f), readFileSync(join(UNITS, f)));
      gatewayFile('gateways.yaml', ['sd-agent-a']);
      writeFileSync(join(dir, 'nats.conf'), tlsBlock(pki) + operator.serverConfig(join(dir, 'operator.jwt')));
      nats = await startNatsServer(['-c', join(dir, 'nats.conf')]);
      db = await createFreshPostgresDatabase();
      // ExecStart runs dist/: built now, so no build counts against the waits below.
      assert.ok(ensureBuild({ ui: true }), 'dist/ builds');
    });

    after(async () => {
      for (const p of running) await p.stop().catch(() => {});
      await nats?.stop();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('start and agent: /readyz 200, both reload their gateway file on ExecReload, and exit 0 on KillSignal in time', async () => {
      // Only what names another host changes: this machine's database and NATS, a port of its own.
      const hosts = { SWITCHBOARD_DATABASE_URL: db.url, SWITCHBOARD_NATS_URL: nats.url.replace('nats://', 'tls://') };
      const start = new UnitProcess(new SystemdUnit(START_UNIT), map, {
        ...hosts,
        SWITCHBOARD_HOST: '127.0.0.1',
        SWITCHBOARD_PORT: '0',
        SWITCHBOARD_CONFIG: gatewayFile('replica-gateways.yaml', ['sd-file-a']),
      });
      running.push(start);
      const admin = (await start.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
      const url = (await start.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 30_000, 'GET /readyz 200');
      const gateways = async () => {
        const res = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
          body: JSON.stringify({ query: '{ gateways { id } }' }),
        });
        return ((await res.json()) as { data: { gateways: { id: string }[] } }).data.gateways
          .map((g) => g.id)
          .sort()
          .join(',');
      };

      const agent = new UnitProcess(new SystemdUnit(AGENT_UNIT), map, hosts);
      running.push(agent);
      await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting 1 gateway/);
      await waitFor(
        async () => (await gateways()) === 'sd-agent-a,sd-file-a',
        30_000,
        "the agent's gateway reported to the replica",
      );

      // systemctl reload, both units: each re-reads its own gateway file.
      gatewayFile('gateways.yaml', ['sd-agent-a', 'sd-agent-b']);
      agent.reload();
      await agent.waitForOutput(/"added":\["sd-agent-b"\].*gateway file reloaded/);
      gatewayFile('replica-gateways.yaml', ['sd-file-a', 'sd-file-b']);
      start.reload();
      await start.waitForOutput(/"added":\["sd-file-b"\].*gateway file reloaded/);
      await waitFor(
        async () => (await gateways()) === 'sd-agent-a,sd-agent-b,sd-file-a,sd-file-b',
        30_000,
        'both reloads seen by the replica',
      );
      assert.ok(agent.pid > 0 && start.pid > 0);

      // systemctl stop: the agent first, then the replica, each within its TimeoutStopSec.
      assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.output().slice(-3000));
      assert.deepEqual(await start.stop(), { code: 0, signal: null }, start.output().slice(-3000));
    });
  },
);
