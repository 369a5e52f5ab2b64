/**
 * A UDP relay between one OpenVPN client and its server, whose server-side socket can be re-bound to
 * another local address: the server then sees the same client (same peer id) from a new address, as
 * when a roaming client's NAT mapping or network changes. Loopback accepts any 127.x.y.z, so no
 * network namespace is needed.
 */
import { createSocket, type Socket } from 'node:dgram';

export class UdpRelay {
  private upstream: Socket | null = null;
  private client: { address: string; port: number } | null = null;

  private constructor(
    private readonly front: Socket,
    private readonly target: { host: string; port: number },
  ) {
    front.on('message', (msg, rinfo) => {
      this.client = { address: rinfo.address, port: rinfo.port };
      this.upstream?.send(msg, target.port, target.host);
    });
  }

  /** Listens on 127.0.0.1 (an ephemeral port) and relays to `target` from `localAddress`. */
  static async start(target: { host: string; port: number }, localAddress = '127.0.0.1'): Promise<UdpRelay> {
    const front = createSocket('udp4');
    await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
    const relay = new UdpRelay(front, target);
    await relay.rebind(localAddress);
    return relay;
  }

  /** The port the client should connect to. */
  get port(): number {
    return this.front.address().port;
  }

  /** The server sees the client's address as this one from now on: `<localAddress>:<new port>`. */
  async rebind(localAddress: string): Promise<string> {
    const next = createSocket('udp4');
    await new Promise<void>((resolve) => next.bind(0, localAddress, resolve));
    next.on('message', (msg) => {
      if (this.client) this.front.send(msg, this.client.port, this.client.address);
    });
    const old = this.upstream;
    this.upstream = next;
    old?.close();
    const a = next.address();
    return `${a.address}:${a.port}`;
  }

  close(): void {
    this.upstream?.close();
    this.upstream = null;
    this.front.close();
  }
}
