/**
 * A TCP proxy on loopback that a test controls, to make a shared server (PostgreSQL) unreachable for
 * one client without touching the server: `refuse()` resets every connection, `blackhole()` keeps
 * them open but lets nothing through (a partition), `restore()` forwards again.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

type Mode = 'forward' | 'refuse' | 'blackhole';

export class TcpProxy {
  private server!: Server;
  private mode: Mode = 'forward';
  private readonly pairs = new Set<[Socket, Socket]>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Every connection is reset, open ones at once and new ones on arrival (ECONNRESET). */
  refuse(): void {
    this.mode = 'refuse';
    for (const [a, b] of this.pairs) {
      a.on('error', () => {});
      b.on('error', () => {});
      a.resetAndDestroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Nothing passes either way; connections stay open and new ones are accepted but never served. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  /** Forwards again; what a black hole held back flows on. */
  restore(): void {
    this.mode = 'forward';
    for (const [a, b] of this.pairs) {
      a.resume();
      b.resume();
    }
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.on('error', () => {}); // the reset is the point; its echo is not an error of the test
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(this.target);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (this.mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  }
}
