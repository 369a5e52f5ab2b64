/** Free loopback ports and per-port tunnel subnets for lab servers that run side by side. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A port on 127.0.0.1 that is free for both TCP and UDP right now. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address();
        srv.close(() =>
          typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
        );
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    // The tun device is named `sb<port>`; keep it within the 15-character limit.
    if (udpFree && port <= 99_999) return port;
  }
  throw new Error('lab: no free port found');
}

const slotOf = (port: number) => port % 512;

/**
 * The second and third octet of a /24 inside 198.18.0.0/15 (RFC 2544, reserved for testing) for the
 * server on `port`, so servers started side by side never share a tunnel subnet.
 */
export function labSubnet(port: number): [number, number] {
  const slot = slotOf(port);
  return [18 + (slot >> 8), slot & 255];
}

/** Subnet slots (labSubnet) of the lab servers this process runs now. */
const slotsInUse = new Set<number>();

/**
 * A free port (freePort) for a lab server whose tunnel subnet no other lab server of this process has:
 * servers started side by side in one process never share a subnet. `releaseLabPort` frees its slot.
 */
export async function freeLabPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await freePort();
    if (slotsInUse.has(slotOf(port))) continue;
    slotsInUse.add(slotOf(port));
    return port;
  }
  throw new Error('lab: no free port with a free tunnel subnet found');
}

export function releaseLabPort(port: number): void {
  slotsInUse.delete(slotOf(port));
}
