/**
 * The NATS TLS and credential-file settings are checked at start-up: each bad file is one line that
 * names its variable and never quotes a secret. Certificates are made by openssl, seeds and JWTs by
 * the NKEY library, as an operator's tools would.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.js';
import { credsText, makeNatsPki, NatsOperator, nkeyUser } from '../test/support/nats-secure.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-config-nats-'));
const pki = makeNatsPki(dir);
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const user = nkeyUser();
const operator = new NatsOperator();
const good = operator.user('agent');
const other = operator.user('other');
const secrets = [user.seed, good.seed, good.jwt, other.seed, other.jwt];

/** `env` is refused with a ConfigError whose one line starts with `variable` and matches `pattern`. */
function refused(env: NodeJS.ProcessEnv, variable: string, pattern: RegExp): void {
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.ok(e.message.startsWith(`${variable}: `), e.message);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), e.message);
      for (const s of secrets) assert.ok(!e.message.includes(s), `no secret in: ${e.message}`);
      return true;
    },
  );
}

test('TLS: none by default; a CA file alone, or with a client certificate and its key', () => {
  assert.equal(loadConfig({}).natsTls, null);
  assert.deepEqual(loadConfig({ SWITCHBOARD_NATS_TLS_CA_FILE: pki.caFile }).natsTls, { caFile: pki.caFile });
  const env = {
    SWITCHBOARD_NATS_TLS_CA_FILE: pki.caFile,
    SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientCertFile,
    SWITCHBOARD_NATS_TLS_KEY_FILE: pki.clientKeyFile,
  };
  assert.deepEqual(loadConfig(env).natsTls, {
    caFile: pki.caFile,
    certFile: pki.clientCertFile,
    keyFile: pki.clientKeyFile,
  });
});

test('TLS: a missing, unreadable or wrong file is refused, naming its variable', () => {
  refused(
    { SWITCHBOARD_NATS_TLS_CA_FILE: join(dir, 'missing.pem') },
    'SWITCHBOARD_NATS_TLS_CA_FILE',
    /cannot read .*missing\.pem \(ENOENT\)/,
  );
  refused({ SWITCHBOARD_NATS_TLS_CA_FILE: dir }, 'SWITCHBOARD_NATS_TLS_CA_FILE', /cannot read .* \(EISDIR\)/);
  refused(
    { SWITCHBOARD_NATS_TLS_CA_FILE: pki.clientKeyFile },
    'SWITCHBOARD_NATS_TLS_CA_FILE',
    /holds no PEM certificate/,
  );
  refused(
    { SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientCertFile },
    'SWITCHBOARD_NATS_TLS_KEY_FILE',
    /required when SWITCHBOARD_NATS_TLS_CERT_FILE is set/,
  );
  refused(
    { SWITCHBOARD_NATS_TLS_KEY_FILE: pki.clientKeyFile },
    'SWITCHBOARD_NATS_TLS_CERT_FILE',
    /required when SWITCHBOARD_NATS_TLS_KEY_FILE is set/,
  );
  refused(
    { SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientKeyFile, SWITCHBOARD_NATS_TLS_KEY_FILE: pki.clientKeyFile },
    'SWITCHBOARD_NATS_TLS_CERT_FILE',
    /holds no PEM certificate/,
  );
  refused(
    { SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientCertFile, SWITCHBOARD_NATS_TLS_KEY_FILE: pki.clientCertFile },
    'SWITCHBOARD_NATS_TLS_KEY_FILE',
    /holds no PEM private key/,
  );
  refused(
    { SWITCHBOARD_NATS_TLS_CERT_FILE: pki.clientCertFile, SWITCHBOARD_NATS_TLS_KEY_FILE: pki.strangerKeyFile },
    'SWITCHBOARD_NATS_TLS_KEY_FILE',
    /is not the key of the certificate in/,
  );
  if (process.getuid?.() !== 0) {
    const locked = file('locked.pem', 'x');
    chmodSync(locked, 0);
    refused({ SWITCHBOARD_NATS_TLS_CA_FILE: locked }, 'SWITCHBOARD_NATS_TLS_CA_FILE', /\(EACCES\)/);
  }
});

test('an NKEY seed file: a user seed is taken; anything else is refused, naming the variable', () => {
  const seedFile = file('agent.nk', `\n${user.seed}\n`);
  assert.deepEqual(loadConfig({ SWITCHBOARD_NATS_NKEY_SEED_FILE: seedFile }).natsAuth, { nkeySeedFile: seedFile });
  refused(
    { SWITCHBOARD_NATS_NKEY_SEED_FILE: join(dir, 'none.nk') },
    'SWITCHBOARD_NATS_NKEY_SEED_FILE',
    /cannot read .* \(ENOENT\)/,
  );
  refused(
    { SWITCHBOARD_NATS_NKEY_SEED_FILE: file('public.nk', user.publicKey) },
    'SWITCHBOARD_NATS_NKEY_SEED_FILE',
    /does not hold an NKEY user seed/,
  );
  // One character changed: the checksum fails.
  const broken = user.seed.slice(0, 20) + (user.seed[20] === 'A' ? 'B' : 'A') + user.seed.slice(21);
  secrets.push(broken);
  refused(
    { SWITCHBOARD_NATS_NKEY_SEED_FILE: file('broken.nk', broken) },
    'SWITCHBOARD_NATS_NKEY_SEED_FILE',
    /does not hold an NKEY user seed/,
  );
});

test('a credentials file: the user JWT with its own seed is taken; a broken, mismatched or expired one is refused', () => {
  const creds = file('agent.creds', good.creds);
  assert.deepEqual(loadConfig({ SWITCHBOARD_NATS_CREDS_FILE: creds }).natsAuth, { credsFile: creds });
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: join(dir, 'none.creds') },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /cannot read .* \(ENOENT\)/,
  );
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: file('seed-only.creds', user.seed) },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /is not a NATS credentials file/,
  );
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: file('mixed.creds', credsText(good.jwt, other.seed)) },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /the seed is not the key of the JWT's user/,
  );
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: file('not-jwt.creds', credsText('abc.%%%.def', good.seed)) },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /not a JWT/,
  );
  const expired = operator.user('old', { expiresAt: Math.floor(Date.now() / 1000) - 3600 });
  secrets.push(expired.seed, expired.jwt);
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: file('expired.creds', expired.creds) },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /the user JWT expired at \d{4}-/,
  );
});

test('one kind of NATS credentials at a time', () => {
  const creds = file('one.creds', good.creds);
  const seed = file('one.nk', user.seed);
  refused(
    { SWITCHBOARD_NATS_CREDS_FILE: creds, SWITCHBOARD_NATS_NKEY_SEED_FILE: seed },
    'SWITCHBOARD_NATS_NKEY_SEED_FILE',
    /use one kind of NATS credentials/,
  );
  refused(
    { SWITCHBOARD_NATS_TOKEN: 'tok', SWITCHBOARD_NATS_CREDS_FILE: creds },
    'SWITCHBOARD_NATS_CREDS_FILE',
    /not SWITCHBOARD_NATS_TOKEN and SWITCHBOARD_NATS_CREDS_FILE/,
  );
  refused(
    { SWITCHBOARD_NATS_USER: 'u', SWITCHBOARD_NATS_PASSWORD: 'p', SWITCHBOARD_NATS_NKEY_SEED_FILE: seed },
    'SWITCHBOARD_NATS_NKEY_SEED_FILE',
    /use one kind/,
  );
});
