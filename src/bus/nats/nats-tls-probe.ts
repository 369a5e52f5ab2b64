/**
 * Why a TLS connection to NATS failed, found by a connection of its own. The client says when it does
 * not trust the server's certificate, but when the SERVER refuses the client's certificate (or that
 * there is none) the client only times out. So after a first connection with TLS on has failed, this
 * probe dials the server once more, reads its INFO, does the TLS handshake itself with the same files,
 * and says which side refused; the operator then hears which file to fix instead of "timeout".
 */
import { readFileSync } from 'node:fs';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { errorText } from '../../domain/errors.js';

/** The TLS files of the connection (see `NatsBusOptions.tls`). */
export interface NatsTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export type TlsFailure = 'TLS_SERVER_CERTIFICATE' | 'TLS_CLIENT_CERTIFICATE' | 'TLS_UNAVAILABLE';

export interface TlsVerdict {
  reason: TlsFailure;
  /** One line, without secrets: what was refused and why. */
  detail: string;
}

/** What the server's INFO line says about TLS. */
interface ServerInfo {
  tls_required?: boolean;
  tls_available?: boolean;
  tls_verify?: boolean;
}

/** OpenSSL reports an alert the server sent as `ERR_SSL_…_ALERT_…`: the server refused us. */
const SERVER_ALERT = /_ALERT_/;

/**
 * Probes `server` (`nats://host:port` or `tls://host:port`) with `tls`. Resolves with the failure it
 * found, or null when TLS works (or the server cannot be reached: the client's own error says so).
 */
export async function probeTls(server: string, tls: NatsTlsFiles, timeoutMs: number): Promise<TlsVerdict | null> {
  const { hostname, port } = new URL(server);
  const host = hostname.replace(/^\[|\]$/g, '');
  const sockets: Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    return await Promise.race([deadline, handshake(host, Number(port || 4222), tls, sockets)]);
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}

async function handshake(host: string, port: number, tls: NatsTlsFiles, sockets: Socket[]): Promise<TlsVerdict | null> {
  const tcp = connectTcp(port, host);
  sockets.push(tcp);
  const info = await readInfo(tcp);
  if (info === null) return null;
  if (info.tls_required !== true && info.tls_available !== true) {
    return { reason: 'TLS_UNAVAILABLE', detail: 'the server does not offer TLS' };
  }
  if (info.tls_verify === true && tls.certFile === undefined) {
    return {
      reason: 'TLS_CLIENT_CERTIFICATE',
      detail: 'the server requires a client certificate and none is configured',
    };
  }
  const options: ConnectionOptions = { socket: tcp };
  if (isIP(host) === 0) options.servername = host;
  if (tls.caFile !== undefined) options.ca = readFileSync(tls.caFile);
  if (tls.certFile !== undefined) options.cert = readFileSync(tls.certFile);
  if (tls.keyFile !== undefined) options.key = readFileSync(tls.keyFile);
  return new Promise((resolve) => {
    const socket = connectTls(options);
    sockets.push(socket);
    let secured = false;
    socket.once('secureConnect', () => {
      secured = true;
      // The server checks a client certificate after the client's side of the handshake (TLS 1.3):
      // any answer to a PING means it accepted this one.
      socket.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":true}\r\nPING\r\n');
    });
    socket.once('data', () => resolve(null));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(classify(e, secured)));
    socket.once('close', () =>
      resolve(
        secured
          ? {
              reason: 'TLS_CLIENT_CERTIFICATE',
              detail:
                'the server closed the connection after the TLS handshake (it did not accept the client certificate)',
            }
          : null,
      ),
    );
  });
}

function classify(e: NodeJS.ErrnoException & { reason?: unknown }, secured: boolean): TlsVerdict {
  // OpenSSL's own message spans lines and names its source files; its `reason` is the readable part.
  const text = typeof e.reason === 'string' ? e.reason : errorText(e).split('\n')[0]!.trim();
  const cause = `${text}${e.code ? ` (${e.code})` : ''}`;
  if (secured || SERVER_ALERT.test(e.code ?? ''))
    return { reason: 'TLS_CLIENT_CERTIFICATE', detail: `the server did not accept the client certificate: ${cause}` };
  return { reason: 'TLS_SERVER_CERTIFICATE', detail: `the server's certificate was not accepted: ${cause}` };
}

/** The server's first line (`INFO {…}`), or null when the connection fails or says something else. */
function readInfo(socket: Socket): Promise<ServerInfo | null> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      const m = /^INFO\s+(\{.*\})\s*$/.exec(text.slice(0, end));
      try {
        resolve(m ? (JSON.parse(m[1]!) as ServerInfo) : null);
      } catch {
        resolve(null);
      }
    };
    socket.on('data', onData);
    socket.once('error', () => resolve(null));
    socket.once('close', () => resolve(null));
  });
}
