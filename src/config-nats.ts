/**
 * The NATS settings beyond the URL: credentials (user/password, token, a `.creds` file or an NKEY seed
 * file) and TLS (CA, client certificate and key). Every file is read and checked here, at start-up, so
 * a missing, unreadable or malformed one stops the process with one line naming its variable. The bus
 * reads the files again at each (re)connection, so rotated ones apply without a restart. No message
 * holds a secret: files are named by path, never quoted.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { nkeys } from '@nats-io/transport-node';
import { ConfigError } from './config-error.js';

/** Credentials for NATS: one kind at most. Never logged. */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  /** A `.creds` file: the user's JWT and NKEY seed (decentralized auth, operator mode). */
  credsFile?: string;
  /** A file whose first line is an NKEY user seed (`SU…`). */
  nkeySeedFile?: string;
}

/** TLS towards NATS. Any of them turns TLS on, for `nats://` URLs too. */
export interface NatsTls {
  /** PEM certificates that sign the server's certificate (instead of the system's CAs). */
  caFile?: string;
  /** PEM client certificate, for servers that verify clients (mutual TLS); needs `keyFile`. */
  certFile?: string;
  keyFile?: string;
}

const unset = (v: string | undefined) => (v === '' ? undefined : v);

/** The file's text, or a ConfigError naming `name` and the cause (ENOENT, EACCES, EISDIR …). */
function readSettingFile(name: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${name}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * A secret from `NAME` or from the file named by `NAME_FILE` (first line, trimmed), not both. Error
 * messages name the variable and never show the value.
 */
function readSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = unset(env[name]);
  const file = unset(env[`${name}_FILE`]);
  if (direct !== undefined && file !== undefined)
    throw new ConfigError(`${name}: set either ${name} or ${name}_FILE, not both`);
  if (file === undefined) return direct;
  const value = readSettingFile(`${name}_FILE`, file).split(/\r?\n/)[0]!.trim();
  if (value === '') throw new ConfigError(`${name}_FILE: ${file} is empty`);
  return value;
}

/** The public key of an NKEY user seed, or null when `seed` is not one. */
function userSeedPublicKey(seed: string): string | null {
  if (!seed.startsWith('SU')) return null;
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    return null;
  }
}

/** Checks an NKEY seed file: its first non-empty line is a user seed. */
function checkSeedFile(name: string, file: string): void {
  const seed =
    readSettingFile(name, file)
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  if (userSeedPublicKey(seed) === null)
    throw new ConfigError(`${name}: ${file} does not hold an NKEY user seed (one line starting with SU)`);
}

/** The blocks of a `.creds` file, as `nsc` writes them and NATS clients read them. */
const CREDS_BLOCK = /-{3,}BEGIN ([A-Z ]+)-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}END \1-{3,}/g;

/** Checks a `.creds` file: a user JWT, unexpired, and the NKEY seed of that very user. */
function checkCredsFile(name: string, file: string): void {
  const blocks = new Map([...readSettingFile(name, file).matchAll(CREDS_BLOCK)].map((m) => [m[1]!, m[2]!]));
  const jwt = blocks.get('NATS USER JWT');
  const seed = blocks.get('USER NKEY SEED');
  if (jwt === undefined || seed === undefined) {
    throw new ConfigError(
      `${name}: ${file} is not a NATS credentials file (a NATS USER JWT block and a USER NKEY SEED block)`,
    );
  }
  let claims: { sub?: unknown; exp?: unknown; nats?: { type?: unknown } };
  try {
    claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new ConfigError(`${name}: ${file}: the NATS USER JWT block is not a JWT`);
  }
  if (claims.nats?.type !== 'user') throw new ConfigError(`${name}: ${file}: the JWT is not a user JWT`);
  const publicKey = userSeedPublicKey(seed);
  if (publicKey === null) throw new ConfigError(`${name}: ${file}: the USER NKEY SEED block is not an NKEY user seed`);
  if (claims.sub !== publicKey) throw new ConfigError(`${name}: ${file}: the seed is not the key of the JWT's user`);
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
    throw new ConfigError(`${name}: ${file}: the user JWT expired at ${new Date(claims.exp * 1000).toISOString()}`);
  }
}

export function readNatsAuth(env: NodeJS.ProcessEnv): NatsAuth {
  const user = unset(env.SWITCHBOARD_NATS_USER);
  const pass = readSecret(env, 'SWITCHBOARD_NATS_PASSWORD');
  const token = readSecret(env, 'SWITCHBOARD_NATS_TOKEN');
  const credsFile = unset(env.SWITCHBOARD_NATS_CREDS_FILE);
  const nkeySeedFile = unset(env.SWITCHBOARD_NATS_NKEY_SEED_FILE);
  const kinds = [
    ['SWITCHBOARD_NATS_USER', user !== undefined || pass !== undefined],
    ['SWITCHBOARD_NATS_TOKEN', token !== undefined],
    ['SWITCHBOARD_NATS_CREDS_FILE', credsFile !== undefined],
    ['SWITCHBOARD_NATS_NKEY_SEED_FILE', nkeySeedFile !== undefined],
  ]
    .filter(([, given]) => given)
    .map(([name]) => name as string);
  if (kinds.length > 1)
    throw new ConfigError(`${kinds[1]}: use one kind of NATS credentials, not ${kinds.join(' and ')}`);
  if (pass !== undefined && user === undefined)
    throw new ConfigError('SWITCHBOARD_NATS_USER: required when a NATS password is set');
  if (user !== undefined && pass === undefined)
    throw new ConfigError('SWITCHBOARD_NATS_PASSWORD: required when SWITCHBOARD_NATS_USER is set');
  if (credsFile !== undefined) checkCredsFile('SWITCHBOARD_NATS_CREDS_FILE', credsFile);
  if (nkeySeedFile !== undefined) checkSeedFile('SWITCHBOARD_NATS_NKEY_SEED_FILE', nkeySeedFile);
  const auth: NatsAuth = {};
  if (user !== undefined) auth.user = user;
  if (pass !== undefined) auth.pass = pass;
  if (token !== undefined) auth.token = token;
  if (credsFile !== undefined) auth.credsFile = credsFile;
  if (nkeySeedFile !== undefined) auth.nkeySeedFile = nkeySeedFile;
  return auth;
}

/** The first certificate of a PEM file, or a ConfigError naming `name`. */
function readCertificate(name: string, file: string): X509Certificate {
  const text = readSettingFile(name, file);
  try {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    return new X509Certificate(text);
  } catch {
    throw new ConfigError(`${name}: ${file} holds no PEM certificate`);
  }
}

function readPrivateKey(name: string, file: string): KeyObject {
  const text = readSettingFile(name, file);
  try {
    return createPrivateKey(text);
  } catch (e) {
    const encrypted = (e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE';
    throw new ConfigError(
      `${name}: ${file} ${encrypted ? 'is encrypted (give an unencrypted key, readable only by this service)' : 'holds no PEM private key'}`,
    );
  }
}

export function readNatsTls(env: NodeJS.ProcessEnv): NatsTls | null {
  const caFile = unset(env.SWITCHBOARD_NATS_TLS_CA_FILE);
  const certFile = unset(env.SWITCHBOARD_NATS_TLS_CERT_FILE);
  const keyFile = unset(env.SWITCHBOARD_NATS_TLS_KEY_FILE);
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return null;
  if (certFile !== undefined && keyFile === undefined)
    throw new ConfigError('SWITCHBOARD_NATS_TLS_KEY_FILE: required when SWITCHBOARD_NATS_TLS_CERT_FILE is set');
  if (keyFile !== undefined && certFile === undefined)
    throw new ConfigError('SWITCHBOARD_NATS_TLS_CERT_FILE: required when SWITCHBOARD_NATS_TLS_KEY_FILE is set');
  const tls: NatsTls = {};
  if (caFile !== undefined) {
    readCertificate('SWITCHBOARD_NATS_TLS_CA_FILE', caFile);
    tls.caFile = caFile;
  }
  if (certFile !== undefined && keyFile !== undefined) {
    const cert = readCertificate('SWITCHBOARD_NATS_TLS_CERT_FILE', certFile);
    const key = readPrivateKey('SWITCHBOARD_NATS_TLS_KEY_FILE', keyFile);
    if (!cert.checkPrivateKey(key))
      throw new ConfigError(
        `SWITCHBOARD_NATS_TLS_KEY_FILE: ${keyFile} is not the key of the certificate in ${certFile}`,
      );
    if (Date.parse(cert.validTo) <= Date.now())
      throw new ConfigError(
        `SWITCHBOARD_NATS_TLS_CERT_FILE: the certificate in ${certFile} expired on ${new Date(cert.validTo).toISOString()}`,
      );
    tls.certFile = certFile;
    tls.keyFile = keyFile;
  }
  return tls;
}
