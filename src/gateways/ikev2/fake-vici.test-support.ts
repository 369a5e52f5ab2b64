/**
 * A VICI server in the test process, for unit tests of the client: it decodes what the client
 * sends and answers with whatever the test's handler returns (packets to write, possibly none).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePacket, ViciFrameReader, type ViciMessage, type ViciPacket } from './vici-codec.js';

export type FakeViciHandler = (packet: ViciPacket, socket: Socket) => ViciPacket[] | Promise<ViciPacket[]>;

export class FakeVici {
  readonly received: ViciPacket[] = [];
  readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly address: string,
  ) {}

  static async start(handler: FakeViciHandler): Promise<FakeVici> {
    const dir = mkdtempSync(join(tmpdir(), 'sb-vici-'));
    const path = join(dir, 'charon.vici');
    let fake: FakeVici | null = null;
    const server = createServer((socket) => {
      fake!.sockets.add(socket);
      socket.on('close', () => fake!.sockets.delete(socket));
      socket.on('error', () => undefined);
      const reader = new ViciFrameReader();
      socket.on('data', async (chunk: Buffer) => {
        for (const p of reader.push(chunk)) {
          fake!.received.push(p);
          for (const out of await handler(p, socket)) if (!socket.destroyed) socket.write(encodePacket(out));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    fake = new FakeVici(server, dir, `unix:${path}`);
    return fake;
  }

  /** Sends an event to every connected client. */
  broadcast(name: string, message: ViciMessage): void {
    for (const s of this.sockets) s.write(encodePacket({ type: 'EVENT', name, message }));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A message from a plain object (sections as objects, lists as arrays). */
export function msg(o: Record<string, unknown>): ViciMessage {
  return Object.assign(Object.create(null) as ViciMessage, o) as ViciMessage;
}

/** A `list-sa` event as charon 5.9.8 sent it in the lab (EAP-MD5 peer behind a PSK responder). */
export function listSa(over: Record<string, unknown> = {}, conn = 'rw') {
  return msg({
    [conn]: msg({
      uniqueid: '2',
      version: '2',
      state: 'ESTABLISHED',
      'local-host': '10.90.2.1',
      'local-port': '4500',
      'local-id': 'server.lab.test',
      'remote-host': '10.90.2.2',
      'remote-port': '4500',
      'remote-id': 'client2@lab.test',
      'remote-eap-id': 'user2',
      'initiator-spi': '5c5333dbcbd66be6',
      'responder-spi': 'c532429b12d945af',
      'encr-alg': 'AES_CBC',
      'encr-keysize': '128',
      'integ-alg': 'HMAC_SHA2_256_128',
      'prf-alg': 'PRF_HMAC_SHA2_256',
      'dh-group': 'CURVE_25519',
      established: '1',
      'rekey-time': '13169',
      'remote-vips': ['10.91.0.2', 'fd00::2'],
      'child-sas': msg({
        'net-2': msg({
          name: 'net',
          uniqueid: '2',
          reqid: '2',
          state: 'INSTALLED',
          'bytes-in': '132',
          'packets-in': '3',
          'bytes-out': '216',
        }),
      }),
      ...over,
    }),
  });
}
