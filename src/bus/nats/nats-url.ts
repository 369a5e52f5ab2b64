/**
 * NATS server addresses and credentials. An operator may write credentials into the URL
 * (`nats://user:pass@host:4222`, `nats://token@host:4222`, as the Go client and the NATS CLI accept);
 * the JS client does not read them from there, so we take them out, hand the client bare
 * host:port addresses, and keep the secrets away from every string that may be logged or thrown.
 */

export interface NatsCredentials {
  user?: string;
  pass?: string;
  token?: string;
}

export interface NatsTarget extends NatsCredentials {
  /** Addresses without credentials, safe to log: `nats://host:port`. */
  servers: string[];
  /** A `tls://` URL asks for TLS (the client would otherwise ignore the scheme). */
  tls: boolean;
}

/**
 * Splits `url` (one URL, or several separated by commas for a cluster) into bare server addresses and
 * credentials. Credentials given as options replace those of the URL (as a whole, not one by one).
 * Throws on a malformed URL, with a message that never contains the credentials.
 */
export function parseNatsUrl(url: string, explicit: NatsCredentials = {}): NatsTarget {
  const fromUrl: NatsCredentials = {};
  const servers: string[] = [];
  let tls = false;
  for (const raw of url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
    let parsed: URL;
    try {
      parsed = new URL(withScheme);
    } catch {
      throw new Error(`invalid NATS URL: ${scrubUrl(raw)}`);
    }
    if (parsed.username && parsed.password) {
      fromUrl.user ??= decodeURIComponent(parsed.username);
      fromUrl.pass ??= decodeURIComponent(parsed.password);
    } else if (parsed.username) {
      fromUrl.token ??= decodeURIComponent(parsed.username);
    }
    if (parsed.protocol === 'tls:') tls = true;
    servers.push(`${parsed.protocol}//${parsed.host}`);
  }
  if (servers.length === 0) throw new Error('invalid NATS URL: no server address');
  const given = explicit.user !== undefined || explicit.pass !== undefined || explicit.token !== undefined;
  const creds = given ? explicit : fromUrl;
  const out: NatsTarget = { servers, tls };
  if (creds.user !== undefined) out.user = creds.user;
  if (creds.pass !== undefined) out.pass = creds.pass;
  if (creds.token !== undefined) out.token = creds.token;
  return out;
}

/** Removes `user:pass@` / `token@` from every URL in `text` (up to the last `@`: a password may hold `/`). */
export function scrubUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s,]*@/gi, '$1***@');
}

/** An NKEY seed (`S` + the key's type + base32) and a JWT (three base64url parts, the first `{"`). */
const KEY_MATERIAL = /\bS[A-Z][A-Z2-7]{50,}\b|\beyJ[\w-]+\.[\w-]+\.[\w-]+/g;

/**
 * Replaces every occurrence of each secret in `text`, any credentials in URLs, and anything shaped
 * like an NKEY seed or a JWT (from credential files, whose content changes on rotation) with `***`.
 */
export function scrubSecrets(text: string, secrets: Array<string | undefined>): string {
  let out = scrubUrl(text).replace(KEY_MATERIAL, '***');
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
