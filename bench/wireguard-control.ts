/**
 * The two WireGuard transports side by side (the numbers behind docs/wireguard-gateways.md's
 * choice of default): a wireguard-go interface in a network namespace of its own, with 3 and then
 * 100 peers, read over its UAPI socket and with `wg show <if> dump`; and a RESTART's round trip on
 * each (remove the peer, read back that it is gone, add it again with its preshared key).
 *
 *   node --import tsx bench/wireguard-control.ts        (root, wireguard-go and wg)
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { WireGuardLab } from '../src/lab/wireguard-lab.js';
import { UapiControl } from '../src/gateways/wireguard/uapi.js';
import { WgCommandControl } from '../src/gateways/wireguard/wg-command.js';
import type { PeerConfig, WireGuardControl } from '../src/gateways/wireguard/wireguard-control.js';
import { median, round } from './lib/stats.js';

const READS = 50;
const ROUND_TRIPS = 20;
const TIMEOUT_MS = 10_000;

function randomPeer(i: number): PeerConfig {
  return {
    publicKey: randomBytes(32).toString('base64'),
    presharedKey: randomBytes(32).toString('base64'),
    allowedIps: [`10.90.${i >> 8}.${i & 255}/32`],
    persistentKeepalive: 25,
  };
}

async function timed(times: number, fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return round(median(ms));
}

const lab = await WireGuardLab.create();
try {
  const transports: Record<string, WireGuardControl> = {
    uapi: new UapiControl(lab.socket),
    wg: new WgCommandControl(lab.interface),
  };
  const peers: PeerConfig[] = [];
  const rows: string[] = [];
  for (const size of [3, 100]) {
    while (peers.length < size) {
      const peer = randomPeer(peers.length + 1);
      await transports.uapi!.addPeer(peer, TIMEOUT_MS);
      peers.push(peer);
    }
    for (const [name, control] of Object.entries(transports)) {
      if ((await control.read(TIMEOUT_MS)).peers.length !== size) throw new Error(`${name}: not ${size} peers`);
      const read = await timed(READS, () => control.read(TIMEOUT_MS));
      const victim = peers[0]!;
      const restart = await timed(ROUND_TRIPS, async () => {
        await control.removePeer(victim.publicKey, TIMEOUT_MS);
        if ((await control.read(TIMEOUT_MS)).peers.some((p) => p.publicKey === victim.publicKey))
          throw new Error(`${name}: the peer is still there`);
        await control.addPeer(victim, TIMEOUT_MS);
      });
      rows.push(`| ${name} | ${size} | ${read} | ${restart} |`);
    }
  }
  process.stdout.write(
    [
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; median of ${READS} reads and ${ROUND_TRIPS} round trips, ms`,
      '| control | peers | read | remove + read-back + re-add |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  await lab.close();
}
