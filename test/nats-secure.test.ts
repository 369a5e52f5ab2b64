/**
 * NATS as production runs it (issue 16), in separate processes: `switchboard start` and `switchboard
 * agent` against nats-servers of this test's own, configured by files: mutual TLS with certificates
 * made by openssl, NKEY users, and operator mode with `.creds` files (JWTs signed here). With the
 * right files a real OpenVPN session is reported and ended through NATS; with a wrong CA, no or a
 * foreign client certificate, an unknown or malformed seed, foreign credentials or a missing file,
 * either process stops with one line naming the setting, and no seed or JWT appears in any output.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { makeNatsPki, NatsOperator, nkeyUser, tlsBlock, type NatsPki } from './support/nats-secure.js';
import { waitFor } from './support/wait.js';
import { apiClient, onlineRows } from './support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { assertOneLineFailure, eachFew, runToEnd, SwitchboardProcess } from './support/switchboard-process.js';

const SEED_MUTATION = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const SESSIONS = '{ onlineSessions(first: 100) { edges { node { id user { name } } } } }';

describe(
  'start and agent over NATS with mutual TLS, NKEY seeds and credentials files',
  { skip: openvpnSkipReason() || natsServerSkipReason() },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-nats-secure-'));
    const procs: SwitchboardProcess[] = [];
    const servers: TestNatsServer[] = [];
    const clients: LabClient[] = [];
    const controlKey = nkeyUser();
    const agentKey = nkeyUser();
    const operator = new NatsOperator();
    const controlCreds = operator.user('control-plane');
    const agentCreds = operator.user('agent-fra-1');
    const secrets = [
      controlKey.seed,
      agentKey.seed,
      controlCreds.seed,
      controlCreds.jwt,
      agentCreds.seed,
      agentCreds.jwt,
    ];
    let pki: NatsPki;
    let nkeyServer: TestNatsServer;
    let operatorServer: TestNatsServer;
    let lab: OpenVpnLab;
    let gateway: LabServer;
    let gatewayFile = '';

    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    const tlsEnv = () => ({
      SWITCHBOARD_NATS_TLS_CA_FILE: pki.caFile,
      SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientCertFile,
      SWITCHBOARD_NATS_TLS_KEY_FILE: pki.clientKeyFile,
    });
    const spawn = (name: string, args: string[], env: Record<string, string>) => {
      const p = SwitchboardProcess.start(name, args, { SWITCHBOARD_LOG_LEVEL: 'debug', ...env });
      procs.push(p);
      return p;
    };

    before(async () => {
      pki = makeNatsPki(dir);
      const nkeyConf = `${tlsBlock(pki)}authorization {\n  users = [\n    { nkey: ${controlKey.publicKey} }\n    { nkey: ${agentKey.publicKey} }\n  ]\n}\n`;
      nkeyServer = await startNatsServer(['-c', file('nkey.conf', nkeyConf)]);
      servers.push(nkeyServer);
      operatorServer = await startNatsServer([
        '-c',
        file('operator.conf', tlsBlock(pki) + operator.serverConfig(join(dir, 'operator.jwt'))),
      ]);
      servers.push(operatorServer);
      lab = await OpenVpnLab.create();
      gateway = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'pw-secure' });
      gatewayFile = file(
        'gateways.yaml',
        JSON.stringify({
          gateways: [{ ...gateway.gatewayConfig({ id: 'fra-1', name: 'Frankfurt 1' }), snapshotIntervalSeconds: 1 }],
        }),
      );
      for (const user of ['alice', 'bob']) clients.push(await gateway.startClient({ user }));
    });

    after(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      for (const c of clients) await c.stop().catch(() => {});
      await lab?.close();
      for (const s of servers) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /**
     * A replica and an agent with these NATS settings: the agent reports the gateway's sessions, the
     * replica lists them, and the seed's mutation ends `user`'s session through the agent.
     */
    async function roundTrip(
      name: string,
      natsUrl: string,
      replicaAuth: Record<string, string>,
      agentAuth: Record<string, string>,
      user: string,
      listed: string[],
    ) {
      const replica = spawn(`${name} replica`, ['start'], {
        SWITCHBOARD_PORT: '0',
        SWITCHBOARD_DATABASE_URL: join(dir, `${name}.db`),
        SWITCHBOARD_NATS_URL: natsUrl,
        ...tlsEnv(),
        ...replicaAuth,
      });
      const admin = (await replica.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
      const url = (await replica.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
      const agent = spawn(`${name} agent`, ['agent'], {
        SWITCHBOARD_CONFIG: gatewayFile,
        SWITCHBOARD_NATS_URL: natsUrl,
        SWITCHBOARD_HEARTBEAT_MS: '500',
        ...tlsEnv(),
        ...agentAuth,
      });
      await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/);
      const gql = apiClient(url, admin);
      const sessions = async () => onlineRows((await gql(SESSIONS)).json);
      const names = async () =>
        (await sessions())
          .map((s) => s.user.name)
          .sort()
          .join(',');
      await waitFor(
        async () => (await names()) === listed.join(','),
        20_000,
        `${listed.join(',')} listed through the agent's reports`,
      );
      const target = (await sessions()).find((s) => s.user.name === user)!;
      const reply = await gql(SEED_MUTATION, { id: target.id });
      assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } }, reply.text);
      await waitFor(async () => (await names()) === listed.filter((u) => u !== user).join(','), 20_000, `${user} gone`);
      await waitFor(
        () => clients.find((c) => c.user === user)!.exited,
        20_000,
        `${user}'s OpenVPN client ended by the daemon`,
      );
      for (const p of [agent, replica]) {
        p.kill('SIGTERM');
        await p.waitExited();
        assert.equal(p.exitCode, 0, p.tail());
        for (const s of secrets) assert.ok(!p.output().includes(s), `${p.name}: a seed or JWT reached its output`);
      }
    }

    test('mutual TLS and NKEY seed files: a session is reported and ended through NATS', async () => {
      await roundTrip(
        'nkey',
        nkeyServer.url,
        { SWITCHBOARD_NATS_NKEY_SEED_FILE: file('control-plane.nk', `${controlKey.seed}\n`) },
        { SWITCHBOARD_NATS_NKEY_SEED_FILE: file('agent.nk', `${agentKey.seed}\n`) },
        'alice',
        ['alice', 'bob'],
      );
    });

    test('mutual TLS and operator-mode credentials files: a session is reported and ended through NATS', async () => {
      await roundTrip(
        'creds',
        operatorServer.url.replace('nats://', 'tls://'),
        { SWITCHBOARD_NATS_CREDS_FILE: file('control-plane.creds', controlCreds.creds) },
        { SWITCHBOARD_NATS_CREDS_FILE: file('agent.creds', agentCreds.creds) },
        'bob',
        ['bob'],
      );
    });

    test('wrong CA, no or a foreign client certificate, unknown seeds, foreign credentials: one line naming the setting', async () => {
      const stranger = nkeyUser();
      const foreign = new NatsOperator('elsewhere').user('control-plane');
      secrets.push(stranger.seed, foreign.seed, foreign.jwt);
      const agentSeed = { SWITCHBOARD_NATS_NKEY_SEED_FILE: file('agent.nk', agentKey.seed) };
      const at = (url: string) => url.replace(/[.]/g, '\\.');
      const cases: Array<{ command: 'start' | 'agent'; env: Record<string, string>; line: RegExp; exit?: number }> = [
        {
          command: 'agent',
          env: { ...tlsEnv(), SWITCHBOARD_NATS_TLS_CA_FILE: pki.strangerCaFile, ...agentSeed },
          line: new RegExp(
            `^switchboard: SWITCHBOARD_NATS_TLS_CA_FILE: TLS with NATS at ${at(nkeyServer.url)} failed: the server's certificate was not accepted: unable to verify the first certificate \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)\\n$`,
          ),
        },
        {
          command: 'start',
          env: { SWITCHBOARD_NATS_TLS_CA_FILE: pki.caFile, ...agentSeed },
          line: new RegExp(
            `^switchboard: SWITCHBOARD_NATS_TLS_CERT_FILE: TLS with NATS at ${at(nkeyServer.url)} failed: the server requires a client certificate and none is configured\\n$`,
          ),
        },
        {
          command: 'agent',
          env: {
            ...tlsEnv(),
            SWITCHBOARD_NATS_TLS_CERT_FILE: pki.strangerCertFile,
            SWITCHBOARD_NATS_TLS_KEY_FILE: pki.strangerKeyFile,
            ...agentSeed,
          },
          line: /^switchboard: SWITCHBOARD_NATS_TLS_CERT_FILE: TLS with NATS at \S+ failed: the server did not accept the client certificate: .*bad certificate/,
        },
        {
          command: 'agent',
          env: { ...tlsEnv(), SWITCHBOARD_NATS_NKEY_SEED_FILE: file('stranger.nk', stranger.seed) },
          line: /^switchboard: SWITCHBOARD_NATS_NKEY_SEED_FILE: NATS at \S+ refused the connection \(.*\): check the credentials; NKEY seed credentials were given\n$/,
        },
        {
          command: 'start',
          env: {
            ...tlsEnv(),
            SWITCHBOARD_NATS_URL: operatorServer.url,
            SWITCHBOARD_NATS_CREDS_FILE: file('foreign.creds', foreign.creds),
          },
          line: /^switchboard: SWITCHBOARD_NATS_CREDS_FILE: NATS at \S+ refused the connection .*credentials file credentials were given\n$/,
        },
        {
          command: 'agent',
          env: { ...tlsEnv(), SWITCHBOARD_NATS_NKEY_SEED_FILE: file('bad.nk', `${agentKey.seed.slice(0, 30)}\n`) },
          exit: 2,
          line: /^switchboard: SWITCHBOARD_NATS_NKEY_SEED_FILE: \S+bad\.nk does not hold an NKEY user seed/,
        },
        {
          command: 'start',
          env: { ...tlsEnv(), SWITCHBOARD_NATS_TLS_CA_FILE: join(dir, 'missing-ca.pem'), ...agentSeed },
          exit: 2,
          line: /^switchboard: SWITCHBOARD_NATS_TLS_CA_FILE: cannot read \S+missing-ca\.pem \(ENOENT\)\n$/,
        },
      ];
      secrets.push(agentKey.seed.slice(0, 30));
      // A few at a time: two of them wait out the client's 5 s connect timeout.
      await eachFew(cases, async (c, n) => {
        const env = {
          SWITCHBOARD_NATS_URL: nkeyServer.url,
          SWITCHBOARD_PORT: '0',
          SWITCHBOARD_DATABASE_URL: join(dir, `refused-${n}.db`),
          SWITCHBOARD_CONFIG: gatewayFile,
          ...c.env,
        };
        const p = await runToEnd([c.command], env);
        assertOneLineFailure(p, c.line, c.exit ?? 1);
        for (const s of secrets) assert.ok(!p.output().includes(s), `case ${n}: a seed or JWT reached the output`);
      });
    });
  },
);
