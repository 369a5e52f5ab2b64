/**
 * A throw-away EC P-256 PKI for the OpenVPN lab: one CA, one server certificate and one client
 * certificate per common name, made lazily with plain `openssl` (about 40 ms per certificate).
 */
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Paths of one certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** A CA in `dir` that signs server and client certificates on demand. */
export class LabPki {
  readonly ca: string;
  readonly server: CertFiles;
  private readonly clients = new Map<string, Promise<CertFiles>>();

  private constructor(private readonly dir: string) {
    this.ca = join(dir, 'ca.crt');
    this.server = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  }

  /** Creates the CA and the server certificate in `dir` (which must exist). */
  static async create(dir: string): Promise<LabPki> {
    const pki = new LabPki(dir);
    await run('openssl', [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      pki.ca,
      '-subj',
      '/CN=switchboard-lab-ca',
      '-days',
      '3',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await pki.leaf('server', 'vpn.lab.test', 'serverAuth');
    return pki;
  }

  /** The certificate for common name `cn`, made on first use. */
  client(cn: string): Promise<CertFiles> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(cn)) throw new Error(`lab: unsupported common name ${JSON.stringify(cn)}`);
    let files = this.clients.get(cn);
    if (!files) {
      files = this.leaf(`client-${cn}`, cn, 'clientAuth');
      this.clients.set(cn, files);
    }
    return files;
  }

  private async leaf(name: string, cn: string, eku: string): Promise<CertFiles> {
    const files = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    await run('openssl', [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      files.key,
      '-out',
      files.cert,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '3',
      '-CA',
      this.ca,
      '-CAkey',
      join(this.dir, 'ca.key'),
      '-addext',
      'basicConstraints=CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyAgreement',
      '-addext',
      `extendedKeyUsage=${eku}`,
    ]);
    await chmod(files.key, 0o600);
    return files;
  }
}
