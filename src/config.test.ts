import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));

test('defaults: port 4000 on 127.0.0.1, SQLite under data/, no gateways', () => {
  const c = loadConfig({});
  assert.equal(c.port, 4000);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.databaseUrl, 'data/switchboard.db');
  assert.equal(c.disconnectTimeoutMs, 5000);
  assert.equal(c.natsPrefix, 'switchboard');
  assert.equal(loadConfig({ SWITCHBOARD_NATS_PREFIX: 'staging-2' }).natsPrefix, 'staging-2');
  assert.deepEqual(c.gateways, []);
});

for (const [key, value] of [
  ['SWITCHBOARD_PORT', 'eighty'],
  ['SWITCHBOARD_PORT', '70000'],
  ['SWITCHBOARD_DATABASE_URL', 'mysql://localhost/x'],
  ['SWITCHBOARD_DISCONNECT_TIMEOUT_MS', '5'],
  ['SWITCHBOARD_LOG_LEVEL', 'loud'],
  ['SWITCHBOARD_NATS_URL', 'http://x'],
  ['SWITCHBOARD_NATS_PREFIX', 'prod.eu'],
  ['SWITCHBOARD_NATS_PREFIX', 'prod>'],
  ['SWITCHBOARD_CONFIG', join(dir, 'missing.yaml')],
  ['SWITCHBOARD_DEPLOYMENT_ID', 'prod'],
  ['SWITCHBOARD_DEPLOYMENT_ANNOUNCE_MS', '50'],
] as const) {
  test(`${key}=${value} is refused with a one-line message naming the variable`, () => {
    assert.throws(
      () => loadConfig({ [key]: value }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.message.startsWith(`${key}:`), e.message);
        assert.ok(!e.message.includes('\n'));
        return true;
      },
    );
  });
}

test('postgres URL and sqlite path are both accepted', () => {
  assert.equal(loadConfig({ SWITCHBOARD_DATABASE_URL: 'postgres://u@h/db' }).databaseUrl, 'postgres://u@h/db');
  assert.equal(loadConfig({ SWITCHBOARD_DATABASE_URL: '/var/lib/sb.db' }).databaseUrl, '/var/lib/sb.db');
});

test('gateway file in YAML: fields, defaults, snapshot interval in ms', () => {
  const f = join(dir, 'gw.yaml');
  writeFileSync(
    f,
    `gateways:
  - id: fra-1
    name: Frankfurt 1
    region: eu-central
    protocol: openvpn
    mode: authorize
    identity: username
    management: unix:/run/openvpn/fra-1.sock
    managementPasswordFile: /etc/openvpn/fra-1.pw
    snapshotIntervalSeconds: 2.5
  - id: ams-1
    name: Amsterdam 1
    protocol: openvpn
    management: tcp://127.0.0.1:7505
`,
  );
  const c = loadConfig({ SWITCHBOARD_CONFIG: f });
  assert.equal(c.gateways.length, 2);
  assert.deepEqual(c.gateways[0], {
    id: 'fra-1',
    name: 'Frankfurt 1',
    region: 'eu-central',
    protocol: 'openvpn',
    mode: 'authorize',
    identity: 'username',
    management: 'unix:/run/openvpn/fra-1.sock',
    managementPasswordFile: '/etc/openvpn/fra-1.pw',
    snapshotIntervalMs: 2500,
  });
  assert.equal(c.gateways[1]!.mode, 'observe');
  assert.equal(c.gateways[1]!.region, 'default');
  const second = c.gateways[1]!;
  assert.equal(
    second.protocol === 'openvpn' && second.identity,
    'certificate',
    'the certificate is the identity unless the file says otherwise',
  );
});

test('an ikev2 gateway names its VICI socket and is observed', () => {
  const f = join(dir, 'ikev2.yaml');
  writeFileSync(f, 'gateways:\n  - {id: ike-1, name: IKE 1, protocol: ikev2, vici: "unix:/run/charon.vici"}\n');
  assert.deepEqual(loadConfig({ SWITCHBOARD_CONFIG: f }).gateways[0], {
    id: 'ike-1',
    name: 'IKE 1',
    region: 'default',
    protocol: 'ikev2',
    mode: 'observe',
    vici: 'unix:/run/charon.vici',
    snapshotIntervalMs: undefined,
  });
});

test('gateway file in JSON works too', () => {
  const f = join(dir, 'gw.json');
  writeFileSync(
    f,
    JSON.stringify({ gateways: [{ id: 'x', name: 'X', protocol: 'openvpn', management: 'unix:/tmp/x.sock' }] }),
  );
  assert.equal(loadConfig({ SWITCHBOARD_CONFIG: f }).gateways[0]!.id, 'x');
});

for (const [label, body, expect] of [
  [
    'bad management address',
    'gateways:\n  - {id: a, name: A, protocol: openvpn, management: "http://x"}\n',
    'gateways.0.management',
  ],
  [
    'unknown protocol',
    'gateways:\n  - {id: a, name: A, protocol: pptp, management: "unix:/x"}\n',
    'gateways.0.protocol: protocol must be one of openvpn',
  ],
  [
    'unknown identity',
    'gateways:\n  - {id: a, name: A, protocol: openvpn, management: "unix:/x", identity: password}\n',
    'gateways.0.identity: identity must be certificate or username',
  ],
  [
    'unknown key',
    'gateways:\n  - {id: a, name: A, protocol: openvpn, management: "unix:/x", colour: red}\n',
    'gateways.0',
  ],
  [
    'duplicate id',
    'gateways:\n  - {id: a, name: A, protocol: openvpn, management: "unix:/x"}\n  - {id: a, name: B, protocol: openvpn, management: "unix:/y"}\n',
    'appears twice',
  ],
  ['not YAML', 'gateways: [\n', 'not valid YAML'],
  ['ikev2 without a VICI socket', 'gateways:\n  - {id: a, name: A, protocol: ikev2}\n', 'gateways.0.vici'],
  [
    'ikev2 in authorize mode',
    'gateways:\n  - {id: a, name: A, protocol: ikev2, vici: "unix:/x", mode: authorize}\n',
    'gateways.0.mode: mode must be observe for ikev2',
  ],
  [
    'ikev2 with an OpenVPN option',
    'gateways:\n  - {id: a, name: A, protocol: ikev2, vici: "unix:/x", management: "unix:/y"}\n',
    'gateways.0',
  ],
] as const) {
  test(`gateway file with ${label} is refused, naming the place`, () => {
    const f = join(dir, `bad-${label.replace(/\W/g, '')}.yaml`);
    writeFileSync(f, body);
    assert.throws(
      () => loadConfig({ SWITCHBOARD_CONFIG: f }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.message.startsWith('SWITCHBOARD_CONFIG:'), e.message);
        assert.ok(e.message.includes(expect), e.message);
        return true;
      },
    );
  });
}

test('NATS credentials: user/password, token, or their _FILE variants; secrets never in the message', () => {
  assert.deepEqual(loadConfig({}).natsAuth, {});
  assert.deepEqual(loadConfig({ SWITCHBOARD_NATS_USER: 'agent', SWITCHBOARD_NATS_PASSWORD: 's3cret' }).natsAuth, {
    user: 'agent',
    pass: 's3cret',
  });
  const tokenFile = join(dir, 'nats.token');
  writeFileSync(tokenFile, 'tok-from-file\n');
  assert.deepEqual(loadConfig({ SWITCHBOARD_NATS_TOKEN_FILE: tokenFile }).natsAuth, { token: 'tok-from-file' });
  for (const [env, variable] of [
    [{ SWITCHBOARD_NATS_USER: 'agent' }, 'SWITCHBOARD_NATS_PASSWORD'],
    [{ SWITCHBOARD_NATS_PASSWORD: 's3cret' }, 'SWITCHBOARD_NATS_USER'],
    [
      { SWITCHBOARD_NATS_TOKEN: 's3cret', SWITCHBOARD_NATS_USER: 'agent', SWITCHBOARD_NATS_PASSWORD: 's3cret' },
      'SWITCHBOARD_NATS_TOKEN',
    ],
    [{ SWITCHBOARD_NATS_TOKEN: 's3cret', SWITCHBOARD_NATS_TOKEN_FILE: tokenFile }, 'SWITCHBOARD_NATS_TOKEN'],
    [
      { SWITCHBOARD_NATS_PASSWORD_FILE: join(dir, 'missing.pw'), SWITCHBOARD_NATS_USER: 'agent' },
      'SWITCHBOARD_NATS_PASSWORD_FILE',
    ],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.message.startsWith(`${variable}:`), e.message);
        assert.ok(!e.message.includes('s3cret'), 'no secret in the message');
        return true;
      },
    );
  }
});

test('SWITCHBOARD_HEARTBEAT_MS defaults to 5000 and stays under the default liveness bound', () => {
  const c = loadConfig({});
  assert.equal(c.heartbeatMs, 5000);
  assert.ok(c.gatewayLivenessMs <= 15_000);
  assert.ok(c.heartbeatMs * 2 < c.gatewayLivenessMs, 'one lost heartbeat does not mark a gateway down');
  assert.equal(loadConfig({ SWITCHBOARD_HEARTBEAT_MS: '250' }).heartbeatMs, 250);
});

test('the deployment settings: announce every 5 s by default; an agent serves any deployment unless told one', () => {
  const c = loadConfig({});
  assert.equal(c.deploymentAnnounceMs, 5000);
  assert.equal(c.deploymentId, null);
  assert.equal(loadConfig({ SWITCHBOARD_DEPLOYMENT_ID: 'dep_0123456789abcdef' }).deploymentId, 'dep_0123456789abcdef');
});

test('webhook delivery settings: documented defaults, overridable, validated', () => {
  assert.deepEqual(loadConfig({}).webhooks, {
    pollMs: 1000,
    backoffMs: 1000,
    backoffCapMs: 300_000,
    giveUpMs: 86_400_000,
    timeoutMs: 10_000,
    concurrency: 4,
  });
  assert.equal(loadConfig({ SWITCHBOARD_WEBHOOK_CONCURRENCY: '1' }).webhooks.concurrency, 1);
  assert.throws(() => loadConfig({ SWITCHBOARD_WEBHOOK_CONCURRENCY: '0' }), /SWITCHBOARD_WEBHOOK_CONCURRENCY/);
  assert.equal(loadConfig({ SWITCHBOARD_WEBHOOK_BACKOFF_MS: '50' }).webhooks.backoffMs, 50);
  assert.throws(
    () => loadConfig({ SWITCHBOARD_WEBHOOK_TIMEOUT_MS: 'soon' }),
    /SWITCHBOARD_WEBHOOK_TIMEOUT_MS: must be a whole number/,
  );
});

test('gateway file: text the record keeps refuses what no store keeps or what would pass for another name, naming the place and the character', () => {
  const key = 'mr6HS7sdUTLcaS4N7lYDqNbFKZEH3yhhpsrHGX/kPjE=';
  const f = join(dir, 'text.yaml');
  for (const [body, expect] of [
    // A U+0000 in a name failed the first start on PostgreSQL with the database's own words.
    [
      '{id: a, name: "Dead\\0x", protocol: openvpn, management: "unix:/x"}',
      'gateways.0.name: must not contain a control character (U+0000 at character 5)',
    ],
    [
      '{id: a, name: A, region: "eu\\u202Ewest", protocol: openvpn, management: "unix:/x"}',
      'gateways.0.region: must not contain a bidi control (U+202E at character 3)',
    ],
    [
      `{id: w, name: W, protocol: wireguard, interface: wg0, peers: [{publicKey: "${key}", user: "eve\\e[31m"}]}`,
      'gateways.0.peers.0.user: must not contain a control character (U+001B at character 4)',
    ],
  ] as const) {
    writeFileSync(f, `gateways:\n  - ${body}\n`);
    assert.throws(
      () => loadConfig({ SWITCHBOARD_CONFIG: f }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(expect),
      expect,
    );
  }
  writeFileSync(
    f,
    `gateways:\n  - {id: a, name: "Zürich ☂ east", region: "אירופה", protocol: openvpn, management: "unix:/x"}\n`,
  );
  assert.equal(loadConfig({ SWITCHBOARD_CONFIG: f }).gateways[0]!.name, 'Zürich ☂ east');
});

test('gateway file: a wireguard entry with its interface, peers and control; a bad key, control or an OpenVPN option is refused, naming the place', () => {
  const key = 'mr6HS7sdUTLcaS4N7lYDqNbFKZEH3yhhpsrHGX/kPjE=';
  const f = join(dir, 'wg.yaml');
  writeFileSync(
    f,
    `gateways:\n  - {id: wg-1, name: WG 1, protocol: wireguard, interface: wg0, handshakeWindowSeconds: 240, peers: [{publicKey: "${key}", user: alice}]}\n`,
  );
  assert.deepEqual(loadConfig({ SWITCHBOARD_CONFIG: f }).gateways[0], {
    id: 'wg-1',
    name: 'WG 1',
    region: 'default',
    protocol: 'wireguard',
    mode: 'observe',
    interface: 'wg0',
    control: 'uapi',
    handshakeWindowSeconds: 240,
    peers: [{ publicKey: key, user: 'alice' }],
    snapshotIntervalMs: undefined,
  });
  writeFileSync(f, `gateways:\n  - {id: wg-2, name: WG 2, protocol: wireguard, interface: wg0, control: wg}\n`);
  assert.equal((loadConfig({ SWITCHBOARD_CONFIG: f }).gateways[0] as { control?: string }).control, 'wg');
  for (const [body, expect] of [
    [
      `{id: w, name: W, protocol: wireguard, interface: wg0, peers: [{publicKey: "not-a-key", user: a}]}`,
      'gateways.0.peers.0.publicKey',
    ],
    ['{id: w, name: W, protocol: wireguard, interface: wg0, management: "unix:/x"}', 'gateways.0'],
    ['{id: w, name: W, protocol: wireguard}', 'gateways.0.interface'],
    ['{id: w, name: W, protocol: wireguard, interface: wg0, control: netlink}', 'control must be uapi or wg'],
    ['{id: w, name: W, protocol: wireguard, interface: wg0, control: wg, socket: /x.sock}', 'gateways.0.socket'],
  ] as const) {
    writeFileSync(f, `gateways:\n  - ${body}\n`);
    assert.throws(
      () => loadConfig({ SWITCHBOARD_CONFIG: f }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(expect),
    );
  }
});
