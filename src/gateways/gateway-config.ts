/**
 * A gateway's entry in the gateway file: the settings every gateway has, plus the options of its
 * protocol, validated by one schema (`gatewayEntrySchema`, a union on `protocol`). Data only: the
 * port (adapter.ts) and config.ts read it; the adapters receive the entry of their own protocol.
 *
 * Adding a protocol takes one entry in each of three places, and the compiler names any one missed:
 * its name in `PROTOCOLS` (domain/gateway.ts), its entry in `ENTRY_SCHEMAS` and the `GatewayConfig`
 * union below, and its adapter in the factory (`ADAPTERS` in main.ts).
 */
import { z } from 'zod';
import { GATEWAY_ID_PATTERN } from '../domain/ids.js';
import { MAX_USER_NAME_CHARS } from '../domain/input-limits.js';
import { refusalText, refusedCharacter, type TextKind } from '../domain/text.js';
import { GATEWAY_IDENTITIES, type GatewayIdentity, type GatewayMode, type Protocol } from '../domain/gateway.js';

/** What every gateway entry says, whatever its protocol. */
export interface GatewayConfigBase {
  id: string;
  name: string;
  region: string;
  protocol: Protocol;
  mode: GatewayMode;
  /** How often a full snapshot is taken, in ms (default 10 000). */
  snapshotIntervalMs?: number;
}

/** OpenVPN: the daemon's management interface. */
export interface OpenVpnGatewayConfig extends GatewayConfigBase {
  protocol: 'openvpn';
  /** Which verified identity becomes the session's user (default `certificate`). */
  identity?: GatewayIdentity;
  /** `unix:/path/to/mgmt.sock` or `tcp://host:port`. */
  management: string;
  /** File holding the management password (first line), if the daemon asks for one. */
  managementPasswordFile?: string;
}

/** OpenConnect (ocserv): its `occtl` control socket (docs/openconnect-gateways.md). */
export interface OpenConnectGatewayConfig extends GatewayConfigBase {
  protocol: 'openconnect';
  /** ocserv's `occtl-socket-file`. */
  occtlSocket: string;
  /** The occtl binary (default `occtl` on PATH). */
  occtl?: string;
  /** ocserv's network namespace, if it runs in one: occtl is run there (`ip netns exec`). */
  netns?: string;
  /**
   * `authorize` mode: the file the agent writes blocks to, read by ocserv's connect-script
   * (`bin/switchboard-ocserv-connect`), which refuses a blocked user's tunnels.
   */
  blockFile?: string;
}

/** IKEv2: a strongSwan charon's VICI socket (see docs/ikev2-gateways.md). */
export interface Ikev2GatewayConfig extends GatewayConfigBase {
  protocol: 'ikev2';
  /** `unix:/path/to/charon.vici`. */
  vici: string;
}

/** One WireGuard peer's user: an unmapped peer's user is its public key. */
export interface WireGuardPeerMapping {
  publicKey: string;
  user: string;
}

/** How the agent speaks to a WireGuard interface (docs/wireguard-gateways.md). */
export const WIREGUARD_CONTROLS = ['uapi', 'wg'] as const;

/** WireGuard: one interface, spoken to over its UAPI control socket or with the `wg` command. */
export interface WireGuardGatewayConfig extends GatewayConfigBase {
  protocol: 'wireguard';
  /** The interface name (`wg0`). */
  interface: string;
  /**
   * `uapi` (default): the interface's UAPI socket, as wireguard-go and other userspace
   * implementations serve it. `wg`: the `wg` command, which speaks netlink to the kernel module
   * (and the socket to userspace implementations).
   */
  control?: (typeof WIREGUARD_CONTROLS)[number];
  /** Its UAPI socket with `control: uapi` (default `/var/run/wireguard/<interface>.sock`). */
  socket?: string;
  /** Which user each peer belongs to. */
  peers: WireGuardPeerMapping[];
  /** A peer is online while its last handshake is at most this old, in seconds (default 180). */
  handshakeWindowSeconds?: number;
  /** How often the interface is read for handshakes and removals, in seconds (default 1). */
  pollIntervalSeconds?: number;
  /**
   * Where the agent keeps what outlives it: the full configuration of peers it holds out (blocks)
   * and the start of each session (default `data/wireguard-<id>.json`, mode 0600).
   */
  stateFile?: string;
}

/** One member per protocol. */
export type GatewayConfig =
  OpenVpnGatewayConfig | OpenConnectGatewayConfig | Ikev2GatewayConfig | WireGuardGatewayConfig;

/** A WireGuard key: 32 bytes, base64. */
export const WIREGUARD_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

/**
 * Text the gateway file gives and the record keeps and shows (domain/text.ts): a U+0000 in a gateway's
 * name failed the first start on PostgreSQL with the database's own words ("invalid byte sequence for
 * encoding UTF8: 0x00") and would have had every report of an agent refused by the wire contract.
 */
const configText = (max: number, kind: TextKind) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((value, ctx) => {
      const refused = refusedCharacter(value, kind);
      if (refused) ctx.addIssue({ code: 'custom', message: refusalText(refused) });
    });

const common = {
  id: z.string().regex(GATEWAY_ID_PATTERN, 'id must be lower-case letters, digits, - or _ (max 63)'),
  name: configText(100, 'name'),
  region: configText(100, 'name').default('default'),
  mode: z.enum(['observe', 'authorize']).default('observe'),
  snapshotIntervalSeconds: z.number().positive().max(3600).optional(),
};

/** Each protocol's entry: the common settings and its own options, nothing else (`strict`). */
const ENTRY_SCHEMAS = {
  openvpn: z
    .object({
      ...common,
      protocol: z.literal('openvpn'),
      identity: z
        .enum(GATEWAY_IDENTITIES, { message: 'identity must be certificate or username' })
        .default('certificate'),
      management: z
        .string()
        .regex(/^(unix:.+|tcp:\/\/[^:/]+:\d+)$/, 'management must be unix:/path or tcp://host:port'),
      managementPasswordFile: z.string().min(1).optional(),
    })
    .strict(),
  openconnect: z
    .object({
      ...common,
      protocol: z.literal('openconnect'),
      occtlSocket: z.string().regex(/^\/\S+$/, "occtlSocket must be the absolute path of ocserv's occtl-socket-file"),
      occtl: z.string().regex(/^\S+$/, 'occtl must be a program name or path without spaces').optional(),
      netns: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'netns must be a network namespace name (letters, digits, _ . -)')
        .optional(),
      blockFile: z
        .string()
        .regex(/^\/\S+$/, 'blockFile must be an absolute path')
        .optional(),
    })
    .strict()
    .refine((g) => (g.mode === 'authorize') === (g.blockFile !== undefined), {
      message:
        'an openconnect gateway in authorize mode needs blockFile (read by its connect-script), and only then has one',
      path: ['blockFile'],
    }),
  ikev2: z
    .object({
      ...common,
      protocol: z.literal('ikev2'),
      // charon cannot hand a peer's authentication to Switchboard: IKEv2 gateways are observed only.
      mode: z
        .literal('observe', {
          message: 'mode must be observe for ikev2 (strongSwan cannot hand authentication to Switchboard)',
        })
        .default('observe'),
      vici: z.string().regex(/^unix:.+/, 'vici must be unix:/path/to/charon.vici'),
    })
    .strict(),
  wireguard: z
    .object({
      ...common,
      protocol: z.literal('wireguard'),
      interface: z
        .string()
        .regex(/^[A-Za-z0-9_=+.-]{1,15}$/, 'interface must be an interface name (1 to 15 letters, digits, _=+.-)'),
      control: z.enum(WIREGUARD_CONTROLS, { message: 'control must be uapi or wg' }).default('uapi'),
      socket: z.string().min(1).optional(),
      peers: z
        .array(
          z
            .object({
              publicKey: z
                .string()
                .regex(WIREGUARD_KEY_PATTERN, 'publicKey must be a WireGuard public key (44 characters of base64)'),
              user: configText(MAX_USER_NAME_CHARS, 'line'),
            })
            .strict(),
        )
        .default([]),
      handshakeWindowSeconds: z.number().positive().max(86_400).optional(),
      pollIntervalSeconds: z.number().positive().max(3600).optional(),
      stateFile: z.string().min(1).optional(),
    })
    .strict()
    .refine((g) => g.control === 'uapi' || g.socket === undefined, {
      message: 'socket is for control: uapi; with control: wg, wg finds the interface itself',
      path: ['socket'],
    }),
} satisfies Record<Protocol, z.ZodObject>;

/** One gateway entry of the file, any protocol. */
export const gatewayEntrySchema = z.discriminatedUnion(
  'protocol',
  [ENTRY_SCHEMAS.openvpn, ENTRY_SCHEMAS.openconnect, ENTRY_SCHEMAS.ikev2, ENTRY_SCHEMAS.wireguard],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `protocol must be one of ${Object.keys(ENTRY_SCHEMAS).join(', ')}` : undefined,
  },
);

/** An entry as the file has it (seconds) made into the config the adapters take (ms). */
export function gatewayConfigOf(entry: z.output<typeof gatewayEntrySchema>): GatewayConfig {
  const { snapshotIntervalSeconds, ...rest } = entry;
  return {
    ...rest,
    snapshotIntervalMs: snapshotIntervalSeconds ? Math.round(snapshotIntervalSeconds * 1000) : undefined,
  };
}
