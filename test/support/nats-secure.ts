/**
 * NATS as production secures it, for tests: certificates made by `openssl` (a CA, the server's, a
 * client's, and a stranger CA with its own client), NKEY users, and operator mode: an operator, an
 * account and users whose JWTs are signed here with NKEYs, written as `.creds` files the way `nsc`
 * writes them. Each helper returns paths or strings for a nats-server configuration file.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';

export interface NatsPki {
  /** The CA that signs the server's and the client's certificates. */
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that signed nothing of the server's, and a client certificate it signed. */
  strangerCaFile: string;
  strangerCertFile: string;
  strangerKeyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An EC key and a certificate for `cn`, signed by `ca` (self-signed when absent), valid for two days. */
function certificate(dir: string, name: string, cn: string, o: { ca?: string; ext?: string } = {}): void {
  const key = [
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-subj',
    `/CN=${cn}`,
  ];
  if (o.ca === undefined) {
    openssl(dir, ['req', '-x509', ...key, '-out', `${name}.pem`, '-days', '2']);
    return;
  }
  openssl(dir, ['req', ...key, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), `${o.ext ?? ''}\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${o.ca}.pem`,
    '-CAkey',
    `${o.ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

/** Makes the certificates in `dir` with `openssl`; the server's is for 127.0.0.1 and localhost. */
export function makeNatsPki(dir: string): NatsPki {
  certificate(dir, 'ca', 'Switchboard test NATS CA');
  certificate(dir, 'server', 'nats', {
    ca: 'ca',
    ext: 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
  });
  certificate(dir, 'client', 'switchboard', { ca: 'ca', ext: 'extendedKeyUsage=clientAuth' });
  certificate(dir, 'stranger-ca', 'Some other CA');
  certificate(dir, 'stranger', 'switchboard', { ca: 'stranger-ca', ext: 'extendedKeyUsage=clientAuth' });
  const at = (f: string) => join(dir, f);
  return {
    caFile: at('ca.pem'),
    serverCertFile: at('server.pem'),
    serverKeyFile: at('server.key'),
    clientCertFile: at('client.pem'),
    clientKeyFile: at('client.key'),
    strangerCaFile: at('stranger-ca.pem'),
    strangerCertFile: at('stranger.pem'),
    strangerKeyFile: at('stranger.key'),
  };
}

/** The nats-server `tls { … }` block: these certificates, and every client must present one the CA signed. */
export function tlsBlock(pki: NatsPki): string {
  return `tls {\n  cert_file: "${pki.serverCertFile}"\n  key_file: "${pki.serverKeyFile}"\n  ca_file: "${pki.caFile}"\n  verify: true\n  timeout: 5\n}\n`;
}

export interface NkeyUser {
  publicKey: string;
  seed: string;
}

/** A fresh NKEY user. */
export function nkeyUser(): NkeyUser {
  const kp = nkeys.createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A NATS JWT (v2) with `nats` claims for `subject`, signed by `issuer`. */
function signJwt(
  issuer: nkeys.KeyPair,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
  exp?: number,
): string {
  const claims: Record<string, unknown> = {
    jti: randomBytes(16).toString('hex').toUpperCase(),
    iat: Math.floor(Date.now() / 1000) - 60,
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  if (exp !== undefined) claims.exp = exp;
  const signed = `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64(claims)}`;
  return `${signed}.${Buffer.from(issuer.sign(new TextEncoder().encode(signed))).toString('base64url')}`;
}

const NO_LIMITS = { subs: -1, data: -1, payload: -1 };

/** A `.creds` file's text, laid out as `nsc` writes it. */
export function credsText(jwt: string, seed: string): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    '************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n' +
    `NKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n` +
    '*************************************************************\n'
  );
}

/**
 * An operator with one account, in memory-resolver mode: `serverConfig` is the nats-server block that
 * trusts them, `user()` signs a user of the account and returns its `.creds` text.
 */
export class NatsOperator {
  private readonly operator = nkeys.createOperator();
  private readonly account = nkeys.createAccount();
  readonly operatorJwt: string;
  readonly accountJwt: string;

  constructor(readonly name = 'switchboard-test') {
    const op = this.operator.getPublicKey();
    this.operatorJwt = signJwt(this.operator, op, name, { type: 'operator' });
    this.accountJwt = signJwt(this.operator, this.account.getPublicKey(), `${name}-account`, {
      type: 'account',
      limits: { ...NO_LIMITS, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 },
    });
  }

  /** The nats-server configuration lines: trust this operator, preload its account (operator JWT in `operatorFile`). */
  serverConfig(operatorFile: string): string {
    writeFileSync(operatorFile, this.operatorJwt);
    return `operator: "${operatorFile}"\nresolver: MEMORY\nresolver_preload: {\n  ${this.account.getPublicKey()}: "${this.accountJwt}"\n}\n`;
  }

  /** A user of the account: its `.creds` text, JWT and seed. `expiresAt` in seconds since the epoch. */
  user(name: string, o: { expiresAt?: number } = {}): { creds: string; jwt: string; seed: string } {
    const kp = nkeys.createUser();
    const jwt = signJwt(
      this.account,
      kp.getPublicKey(),
      name,
      { type: 'user', pub: {}, sub: {}, ...NO_LIMITS },
      o.expiresAt,
    );
    const seed = new TextDecoder().decode(kp.getSeed());
    return { creds: credsText(jwt, seed), jwt, seed };
  }
}
