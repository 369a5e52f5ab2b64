/**
 * Configuration: environment variables and the gateway file, validated at start-up. Any invalid value
 * becomes a `ConfigError` whose message is one line naming the variable; the CLI exits with code 2.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { gatewayConfigOf, gatewayEntrySchema, type GatewayConfig } from './gateways/gateway-config.js';
import { DEFAULT_SUBJECT_PREFIX, SUBJECT_PREFIX_PATTERN } from './bus/bus.js';
import { parseRateLimit, type RateLimit } from './domain/rate-limit.js';
import type { ConnectionCaps } from './domain/connection-caps.js';
import { ConfigError } from './config-error.js';
import { readNatsAuth, readNatsTls, type NatsAuth, type NatsTls } from './config-nats.js';

export { ConfigError };
export type { NatsAuth, NatsTls };

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  configFile: string | null;
  natsUrl: string | null;
  /** NATS credentials: user/password, token, credentials file or NKEY seed file (one of them at most). */
  natsAuth: NatsAuth;
  /** TLS towards NATS (CA, client certificate and key), or null when the URLs alone decide. */
  natsTls: NatsTls | null;
  /** The deployment's namespace on NATS: every subject starts with it (`switchboard` by default). */
  natsPrefix: string;
  /** `switchboard agent`: the deployment it serves; kill requests of any other are refused (null: any). */
  deploymentId: string | null;
  /** Many hosts: how often each replica announces its deployment's id on the bus (see core/deployment-guard.ts). */
  deploymentAnnounceMs: number;
  /** How often an agent reports that it is alive (`switchboard agent`). */
  heartbeatMs: number;
  /** Agents: how often each daemon is probed with a cheap command, and how long its answer may take. */
  daemonProbe: { intervalMs: number; timeoutMs: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  disconnectTimeoutMs: number;
  /** On SIGTERM/SIGINT: how long requests in flight may take to finish before their connections are cut. */
  shutdownDrainMs: number;
  /** Who may read `GET /metrics`: any valid token, anyone, or nobody. */
  metrics: 'token' | 'open' | 'off';
  /** An unconfirmed disconnect still pending this long settles as FAILED. */
  disconnectHorizonMs: number;
  gatewayLivenessMs: number;
  bodyLimitBytes: number;
  /** Requests per second and burst per API token, per replica (`ratePerSecond` 0: off). */
  rateLimitPerToken: RateLimit;
  /** Requests per second and burst per client IP, authenticated or not, per replica (0: off). */
  rateLimitPerIp: RateLimit;
  /** Caps on WebSockets, SSE streams and connections, per replica. */
  caps: ConnectionCaps;
  /** Webhook delivery: outbox scan interval, retry backoff (first delay, cap), when to give up, POST timeout, POSTs in flight per endpoint. */
  webhooks: {
    pollMs: number;
    backoffMs: number;
    backoffCapMs: number;
    giveUpMs: number;
    timeoutMs: number;
    concurrency: number;
  };
  gateways: GatewayConfig[];
}

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** `RATE` or `RATE:BURST` requests per second; `0` turns the limit off. */
const rateLimit = () =>
  z.string().transform((v, ctx) => {
    const limit = parseRateLimit(v);
    if (limit === null)
      ctx.addIssue({
        code: 'custom',
        message: 'must be RATE or RATE:BURST (requests per second, burst), or 0 for no limit',
      });
    return limit ?? { ratePerSecond: 0, burst: 0 };
  });

/** Each variable: its schema and its default. The README documents exactly these. */
const ENV = {
  SWITCHBOARD_PORT: { schema: int(0, 65535), default: '4000' },
  SWITCHBOARD_HOST: { schema: z.string().min(1), default: '127.0.0.1' },
  SWITCHBOARD_DATABASE_URL: {
    schema: z
      .string()
      .min(1)
      .refine(
        (v) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || /^postgres(ql)?:\/\//i.test(v),
        'must be a SQLite path (or sqlite:PATH) or a postgres:// URL',
      ),
    default: 'data/switchboard.db',
  },
  SWITCHBOARD_CONFIG: { schema: z.string().min(1).optional(), default: undefined },
  SWITCHBOARD_NATS_URL: {
    schema: z
      .string()
      .regex(/^(nats|tls):\/\//, 'must be a nats:// or tls:// URL')
      .optional(),
    default: undefined,
  },
  SWITCHBOARD_NATS_PREFIX: {
    schema: z
      .string()
      .regex(SUBJECT_PREFIX_PATTERN, 'must be 1 to 64 letters, digits, - or _ (one NATS subject token)'),
    default: DEFAULT_SUBJECT_PREFIX,
  },
  SWITCHBOARD_LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
  },
  SWITCHBOARD_DISCONNECT_TIMEOUT_MS: { schema: int(100, 60_000), default: '5000' },
  SWITCHBOARD_SHUTDOWN_DRAIN_MS: { schema: int(0, 600_000), default: '15000' },
  SWITCHBOARD_METRICS: { schema: z.enum(['token', 'open', 'off']), default: 'token' },
  SWITCHBOARD_DISCONNECT_HORIZON_MS: { schema: int(1000, 7 * 86_400_000), default: '600000' },
  SWITCHBOARD_GATEWAY_LIVENESS_MS: { schema: int(1000, 3_600_000), default: '15000' },
  SWITCHBOARD_BODY_LIMIT_BYTES: { schema: int(1024, 64 * 1024 * 1024), default: '1048576' },
  SWITCHBOARD_HEARTBEAT_MS: { schema: int(100, 600_000), default: '5000' },
  SWITCHBOARD_DEPLOYMENT_ANNOUNCE_MS: { schema: int(100, 600_000), default: '5000' },
  SWITCHBOARD_DEPLOYMENT_ID: {
    schema: z
      .string()
      .regex(/^dep_[a-z0-9]{16}$/, 'must be a deployment id as a replica logs it at start (dep_ and 16 of [a-z0-9])')
      .optional(),
    default: undefined,
  },
  SWITCHBOARD_DAEMON_PROBE_INTERVAL_MS: { schema: int(100, 600_000), default: '2000' },
  SWITCHBOARD_DAEMON_PROBE_TIMEOUT_MS: { schema: int(100, 600_000), default: '3000' },
  SWITCHBOARD_RATE_LIMIT_PER_TOKEN: { schema: rateLimit(), default: '200:400' },
  SWITCHBOARD_RATE_LIMIT_PER_IP: { schema: rateLimit(), default: '1000:2000' },
  SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_SOCKET: { schema: int(1, 100_000), default: '100' },
  SWITCHBOARD_MAX_STREAMS_PER_TOKEN: { schema: int(1, 1_000_000), default: '100' },
  SWITCHBOARD_MAX_CONNECTIONS: { schema: int(1, 1_000_000), default: '10000' },
  SWITCHBOARD_WEBHOOK_POLL_MS: { schema: int(10, 60_000), default: '1000' },
  SWITCHBOARD_WEBHOOK_BACKOFF_MS: { schema: int(10, 3_600_000), default: '1000' },
  SWITCHBOARD_WEBHOOK_BACKOFF_CAP_MS: { schema: int(10, 86_400_000), default: '300000' },
  SWITCHBOARD_WEBHOOK_GIVE_UP_MS: { schema: int(1000, 30 * 86_400_000), default: '86400000' },
  SWITCHBOARD_WEBHOOK_TIMEOUT_MS: { schema: int(100, 120_000), default: '10000' },
  SWITCHBOARD_WEBHOOK_CONCURRENCY: { schema: int(1, 64), default: '4' },
} as const;

function read<K extends keyof typeof ENV>(env: NodeJS.ProcessEnv, key: K): z.output<(typeof ENV)[K]['schema']> {
  const spec = ENV[key];
  const raw = env[key] === undefined || env[key] === '' ? spec.default : env[key];
  const r = (spec.schema as z.ZodType).safeParse(raw);
  if (!r.success)
    throw new ConfigError(`${key}: ${r.error.issues[0]?.message ?? 'invalid value'} (got ${JSON.stringify(raw)})`);
  return r.data as z.output<(typeof ENV)[K]['schema']>;
}

const fileSchema = z.object({ gateways: z.array(gatewayEntrySchema).default([]) }).strict();

/** Reads and validates the gateway file (YAML or JSON, by content). */
export function loadGatewayFile(path: string): GatewayConfig[] {
  if (!existsSync(path)) throw new ConfigError(`SWITCHBOARD_CONFIG: file not found: ${path}`);
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8')); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError(
      `SWITCHBOARD_CONFIG: ${path} is not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const r = fileSchema.safeParse(doc ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(`SWITCHBOARD_CONFIG: ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const ids = new Set<string>();
  return r.data.gateways.map((g) => {
    if (ids.has(g.id)) throw new ConfigError(`SWITCHBOARD_CONFIG: ${path}: gateway id ${g.id} appears twice`);
    ids.add(g.id);
    return gatewayConfigOf(g);
  });
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const configFile = read(env, 'SWITCHBOARD_CONFIG') ?? null;
  return {
    port: read(env, 'SWITCHBOARD_PORT'),
    host: read(env, 'SWITCHBOARD_HOST'),
    databaseUrl: read(env, 'SWITCHBOARD_DATABASE_URL'),
    configFile,
    natsUrl: read(env, 'SWITCHBOARD_NATS_URL') ?? null,
    natsAuth: readNatsAuth(env),
    natsTls: readNatsTls(env),
    natsPrefix: read(env, 'SWITCHBOARD_NATS_PREFIX'),
    heartbeatMs: read(env, 'SWITCHBOARD_HEARTBEAT_MS'),
    deploymentAnnounceMs: read(env, 'SWITCHBOARD_DEPLOYMENT_ANNOUNCE_MS'),
    deploymentId: read(env, 'SWITCHBOARD_DEPLOYMENT_ID') ?? null,
    daemonProbe: {
      intervalMs: read(env, 'SWITCHBOARD_DAEMON_PROBE_INTERVAL_MS'),
      timeoutMs: read(env, 'SWITCHBOARD_DAEMON_PROBE_TIMEOUT_MS'),
    },
    logLevel: read(env, 'SWITCHBOARD_LOG_LEVEL'),
    disconnectTimeoutMs: read(env, 'SWITCHBOARD_DISCONNECT_TIMEOUT_MS'),
    shutdownDrainMs: read(env, 'SWITCHBOARD_SHUTDOWN_DRAIN_MS'),
    metrics: read(env, 'SWITCHBOARD_METRICS'),
    disconnectHorizonMs: read(env, 'SWITCHBOARD_DISCONNECT_HORIZON_MS'),
    gatewayLivenessMs: read(env, 'SWITCHBOARD_GATEWAY_LIVENESS_MS'),
    bodyLimitBytes: read(env, 'SWITCHBOARD_BODY_LIMIT_BYTES'),
    rateLimitPerToken: read(env, 'SWITCHBOARD_RATE_LIMIT_PER_TOKEN'),
    rateLimitPerIp: read(env, 'SWITCHBOARD_RATE_LIMIT_PER_IP'),
    caps: {
      subscriptionsPerSocket: read(env, 'SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_SOCKET'),
      streamsPerToken: read(env, 'SWITCHBOARD_MAX_STREAMS_PER_TOKEN'),
      connections: read(env, 'SWITCHBOARD_MAX_CONNECTIONS'),
    },
    webhooks: {
      pollMs: read(env, 'SWITCHBOARD_WEBHOOK_POLL_MS'),
      backoffMs: read(env, 'SWITCHBOARD_WEBHOOK_BACKOFF_MS'),
      backoffCapMs: read(env, 'SWITCHBOARD_WEBHOOK_BACKOFF_CAP_MS'),
      giveUpMs: read(env, 'SWITCHBOARD_WEBHOOK_GIVE_UP_MS'),
      timeoutMs: read(env, 'SWITCHBOARD_WEBHOOK_TIMEOUT_MS'),
      concurrency: read(env, 'SWITCHBOARD_WEBHOOK_CONCURRENCY'),
    },
    gateways: configFile ? loadGatewayFile(configFile) : [],
  };
}
