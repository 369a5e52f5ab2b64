/**
 * NATS as production secures it, against real nats-server processes started here with configuration
 * files: mutual TLS (certificates made by openssl), NKEY users, and operator mode with `.creds` files
 * (JWTs signed here). The bus connects with the right files and refuses the wrong ones with an error
 * that says which side refused what, and holds no seed or JWT.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectNatsBus, type NatsBus, type NatsBusOptions } from './nats-bus.js';
import { NatsConnectError, type NatsConnectFailure } from './nats-connect-error.js';
import {
  captureLogger,
  natsServerSkipReason,
  startNatsServer,
  type TestNatsServer,
} from '../../../test/support/nats-server.js';
import { makeNatsPki, NatsOperator, nkeyUser, tlsBlock, type NatsPki } from '../../../test/support/nats-secure.js';

describe('nats bus with TLS, NKEYs and credentials files', { skip: natsServerSkipReason() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nats-secure-'));
  const servers: TestNatsServer[] = [];
  const secrets: string[] = [];
  const { logger, lines: logLines } = captureLogger();
  let pki: NatsPki;
  const agent = nkeyUser();
  const spare = nkeyUser();
  const operator = new NatsOperator();
  let nkeyServer: TestNatsServer;
  let operatorServer: TestNatsServer;

  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const server = async (name: string, config: string, port?: number) => {
    const s = await startNatsServer(['-c', file(name, config)], port);
    servers.push(s);
    return s;
  };
  const clientTls = () => ({ caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile });
  const nkeyConfig = (...users: string[]) =>
    `${tlsBlock(pki)}authorization {\n  users = [\n${users.map((u) => `    { nkey: ${u} }\n`).join('')}  ]\n}\n`;

  async function roundTrip(options: Omit<NatsBusOptions, 'logger'>): Promise<void> {
    const bus = await connectNatsBus({ ...options, logger, prefix: `sec_${Math.random().toString(36).slice(2, 8)}` });
    try {
      bus.serve('gateway.gw1.disconnect', async (d) => ({ ended: d }));
      assert.deepEqual(await bus.request('gateway.gw1.disconnect', 'cid-7', { timeoutMs: 3000 }), { ended: 'cid-7' });
    } finally {
      await bus.close();
    }
  }

  async function refused(
    options: Omit<NatsBusOptions, 'logger'>,
    reason: NatsConnectFailure,
    pattern: RegExp,
  ): Promise<void> {
    const err = await connectNatsBus({ connectTimeoutMs: 3000, ...options, logger }).then(
      async (b: NatsBus) => {
        await b.close();
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof NatsConnectError, `refused, not ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    for (const s of secrets)
      assert.ok(!err.message.includes(s) && !(err.stack ?? '').includes(s), `no secret in: ${err.message}`);
  }

  before(async () => {
    pki = makeNatsPki(dir);
    secrets.push(agent.seed, spare.seed);
    nkeyServer = await server('nkey.conf', nkeyConfig(agent.publicKey));
    operatorServer = await server('operator.conf', tlsBlock(pki) + operator.serverConfig(join(dir, 'operator.jwt')));
  });

  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const line of logLines)
      for (const s of secrets) assert.ok(!line.includes(s), `a secret reached a log line: ${line}`);
  });

  test('mutual TLS and an NKEY seed file: connects, and a request/reply round trip works', async () => {
    await roundTrip({ url: nkeyServer.url, tls: clientTls(), nkeySeedFile: file('agent.nk', `${agent.seed}\n`) });
    // A tls:// URL with the same files is the same connection.
    await roundTrip({
      url: nkeyServer.url.replace('nats://', 'tls://'),
      tls: clientTls(),
      nkeySeedFile: file('agent.nk', `${agent.seed}\n`),
    });
  });

  test("a CA file that did not sign the server's certificate is refused, naming the server's certificate", async () => {
    await refused(
      {
        url: nkeyServer.url,
        tls: { ...clientTls(), caFile: pki.strangerCaFile },
        nkeySeedFile: file('agent.nk', agent.seed),
      },
      'TLS_SERVER_CERTIFICATE',
      /TLS with NATS at nats:\/\/127\.0\.0\.1:\d+ failed: the server's certificate was not accepted: .*(verify|certificate)/,
    );
  });

  test("no client certificate, or one the server's CA did not sign, is refused, naming the client certificate", async () => {
    await refused(
      { url: nkeyServer.url, tls: { caFile: pki.caFile }, nkeySeedFile: file('agent.nk', agent.seed) },
      'TLS_CLIENT_CERTIFICATE',
      /the server requires a client certificate and none is configured/,
    );
    await refused(
      {
        url: nkeyServer.url,
        tls: { caFile: pki.caFile, certFile: pki.strangerCertFile, keyFile: pki.strangerKeyFile },
        nkeySeedFile: file('agent.nk', agent.seed),
      },
      'TLS_CLIENT_CERTIFICATE',
      /did not accept the client certificate/,
    );
  });

  test('TLS asked of a server without it is refused as TLS_UNAVAILABLE', async () => {
    const plain = await server('plain.conf', 'debug: false\n');
    await refused({ url: plain.url, tls: { caFile: pki.caFile } }, 'TLS_UNAVAILABLE', /does not (offer|support)/);
  });

  test('a seed the server does not know, and no credentials at all, are refused as AUTHORIZATION', async () => {
    await refused(
      { url: nkeyServer.url, tls: clientTls(), nkeySeedFile: file('spare.nk', spare.seed) },
      'AUTHORIZATION',
      /refused the connection.*NKEY seed credentials were given/,
    );
    await refused({ url: nkeyServer.url, tls: clientTls() }, 'AUTHORIZATION', /no credentials were given/);
  });

  test('operator mode: a .creds file of the account connects; one of another operator is refused', async () => {
    const user = operator.user('control-plane');
    secrets.push(user.seed, user.jwt);
    await roundTrip({ url: operatorServer.url, tls: clientTls(), credsFile: file('control-plane.creds', user.creds) });
    const stranger = new NatsOperator('elsewhere').user('control-plane');
    secrets.push(stranger.seed, stranger.jwt);
    await refused(
      { url: operatorServer.url, tls: clientTls(), credsFile: file('stranger.creds', stranger.creds) },
      'AUTHORIZATION',
      /credentials file credentials were given/,
    );
  });

  test('the seed file is read again at each reconnect: a rotated seed applies without a restart', async () => {
    const seedFile = file('rotating.nk', agent.seed);
    const first = await server('rotate-1.conf', nkeyConfig(agent.publicKey));
    const bus = await connectNatsBus({
      url: first.url,
      tls: clientTls(),
      nkeySeedFile: seedFile,
      reconnectWaitMs: 50,
      logger,
    });
    try {
      const reconnected = new Promise<void>((resolve) => bus.onStatus((s) => s.type === 'reconnected' && resolve()));
      await first.stop();
      writeFileSync(seedFile, spare.seed); // the old key is retired: the server knows only the new one
      await server('rotate-2.conf', nkeyConfig(spare.publicKey), first.port);
      await reconnected;
      await bus.flush(3000);
    } finally {
      await bus.close();
    }
  });
});
