/**
 * The composition root: the only file that picks concrete implementations (store, bus, adapters, API).
 */
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SYSTEM_ACTOR } from './domain/actor.js';
import { errorText } from './domain/errors.js';
import { loadGatewayFile, type Config } from './config.js';
import { listenError, StartupError } from './startup-error.js';
import { existsSync } from 'node:fs';
import { migrateDatabase, openStore, type MigrationReport } from './store/kysely/kysely-store.js';
import { describeTarget, parseDatabaseUrl } from './store/kysely/dialect.js';
import type { Store } from './store/store.js';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory/memory-bus.js';
import { connectNatsBus } from './bus/nats/nats-bus.js';
import { NatsConnectError, type NatsAuthKind } from './bus/nats/nats-connect-error.js';
import type { GatewayAdapter, GatewayConfig } from './gateways/adapter.js';
import type { Protocol } from './domain/gateway.js';
import { OpenVpnAdapter } from './gateways/openvpn/openvpn-adapter.js';
import { OpenConnectAdapter } from './gateways/openconnect/openconnect-adapter.js';
import { Ikev2Adapter } from './gateways/ikev2/ikev2-adapter.js';
import { WireGuardAdapter } from './gateways/wireguard/wireguard-adapter.js';
import { AgentLink } from './core/agent-link.js';
import { SessionSync } from './core/sync/session-sync.js';
import { ReportIntake } from './core/report-intake.js';
import { IntentHorizon } from './core/intent-horizon.js';
import { HeapRelease } from './heap-release.js';
import { Switchboard } from './core/switchboard.js';
import { SettledIntents } from './core/settled-intents.js';
import { KillsInFlight } from './core/kills-in-flight.js';
import { WebhookDispatcher } from './core/webhook-dispatcher.js';
import { createReadiness } from './core/readiness.js';
import { DeploymentGuard } from './core/deployment-guard.js';
import { newId } from './domain/ids.js';
import { EventRelay } from './core/event-relay.js';
import {
  declareGateway,
  diffGateways,
  hasChanges,
  recordRefusedReload,
  recordReload,
  type GatewayChanges,
} from './core/gateway-reload.js';
import type { Logger } from './domain/logger.js';
import { createApiServer } from './api/http-server.js';

/** Paths pino blanks out, whatever a caller passes it: tokens and daemon passwords never reach a log. */
const REDACT = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  'secret',
  'password',
  '*.password',
  '*.secret',
  '*.token',
];

export function createLogger(level: Config['logLevel'], destination?: pino.DestinationStream): pino.Logger {
  return pino(
    { level, base: { service: 'switchboard' }, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
}

/** What an adapter is made with, besides its gateway's entry. */
interface AdapterDeps {
  logger: Logger;
  /** The daemon liveness probe's interval and timeout (defaults: see each adapter). */
  probe?: Config['daemonProbe'];
}

/**
 * The one map from protocol to adapter, used by `switchboard start` (in-process agents) and by
 * `switchboard agent`. A protocol added to PROTOCOLS without an entry here does not compile.
 */
const ADAPTERS: {
  [P in Protocol]: (config: Extract<GatewayConfig, { protocol: P }>, deps: AdapterDeps) => GatewayAdapter;
} = {
  openvpn: (config, { logger, probe }) => new OpenVpnAdapter(config, { logger, probe }),
  openconnect: (config, { logger, probe }) => new OpenConnectAdapter(config, { logger, probe }),
  ikev2: (config, { logger, probe }) => new Ikev2Adapter(config, { logger, probe }),
  wireguard: (config, { logger }) => new WireGuardAdapter(config, { logger }),
};

/** The adapter for a gateway entry, whatever its protocol; its log lines carry the gateway id. */
export function createAdapter(config: GatewayConfig, logger: Logger, probe?: Config['daemonProbe']): GatewayAdapter {
  const create = ADAPTERS[config.protocol] as (config: GatewayConfig, deps: AdapterDeps) => GatewayAdapter;
  return create(config, { logger: logger.child({ gatewayId: config.id }), probe });
}

export async function openStoreFor(config: Pick<Config, 'databaseUrl'>, logger?: Logger): Promise<Store> {
  return openStore(config.databaseUrl, { logger });
}

/** `switchboard migrate`: the schema brought up to date as the configured role, and the runtime role's grants. */
export async function migrateStoreFor(
  config: Pick<Config, 'databaseUrl'>,
  options: { runtimeRole?: string; logger?: Logger } = {},
): Promise<MigrationReport> {
  return migrateDatabase(config.databaseUrl, options);
}

/**
 * Which store a command works on, for a line on stderr: the SQLite file's absolute path (a relative
 * path depends on the current directory) and whether it exists yet, or the PostgreSQL URL without
 * its password.
 */
export function describeStore(databaseUrl: string): { label: string; exists: boolean } {
  const target = parseDatabaseUrl(databaseUrl);
  const exists = target.dialect === 'postgres' || target.path === ':memory:' || existsSync(target.path);
  return { label: describeTarget(target), exists };
}

/**
 * The in-process bus, or NATS when `SWITCHBOARD_NATS_URL` is set (many hosts). NATS fails at once
 * when unreachable, when it refuses the credentials or when either side refuses a TLS certificate,
 * with a StartupError naming the setting to fix, so a misconfigured process stops at start-up.
 */
export async function createBus(
  config: Pick<Config, 'natsUrl' | 'natsAuth'> & Partial<Pick<Config, 'natsPrefix' | 'natsTls'>>,
  options: { logger?: Logger; name?: string } = {},
): Promise<Bus> {
  if (config.natsUrl === null) return new MemoryBus();
  try {
    return await connectNatsBus({
      url: config.natsUrl,
      ...config.natsAuth,
      tls: config.natsTls,
      prefix: config.natsPrefix,
      logger: options.logger,
      name: options.name,
    });
  } catch (e) {
    if (e instanceof NatsConnectError) throw new StartupError(natsSetting(e), e.message);
    throw e;
  }
}

const NATS_AUTH_SETTING: Record<NatsAuthKind, string> = {
  'user/password': 'SWITCHBOARD_NATS_USER',
  token: 'SWITCHBOARD_NATS_TOKEN',
  'credentials file': 'SWITCHBOARD_NATS_CREDS_FILE',
  'NKEY seed': 'SWITCHBOARD_NATS_NKEY_SEED_FILE',
  none: 'SWITCHBOARD_NATS_URL',
};

/** The setting an operator should look at when the first connection to NATS failed. */
function natsSetting(e: NatsConnectError): string {
  switch (e.reason) {
    case 'AUTHORIZATION':
      return NATS_AUTH_SETTING[e.auth];
    case 'TLS_SERVER_CERTIFICATE':
      // A name the certificate does not carry is the URL's fault, an unknown signer the CA file's.
      return /ERR_TLS_CERT_ALTNAME_INVALID/.test(e.message) ? 'SWITCHBOARD_NATS_URL' : 'SWITCHBOARD_NATS_TLS_CA_FILE';
    case 'TLS_CLIENT_CERTIFICATE':
      return 'SWITCHBOARD_NATS_TLS_CERT_FILE';
    default:
      return 'SWITCHBOARD_NATS_URL';
  }
}

export interface RunningSwitchboard {
  url: string;
  core: Switchboard;
  store: Store;
  bus: Bus;
  sync: SessionSync;
  agents: AgentLink;
  relay: EventRelay;
  /**
   * Re-reads the gateway file (SIGHUP): added gateways get an in-process agent, removed ones lose
   * theirs (their sessions end as GATEWAY_REMOVED), changed ones are replaced; audited. A file that
   * does not load changes nothing and is logged as one error line (and audited as refused).
   */
  reloadGateways(): Promise<GatewayChanges | null>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: pino.Logger;
  /** Adapters to run in-process instead of those built from `config.gateways` (tests). */
  adapters?: GatewayAdapter[];
  /** Called once with the admin token created when the store had none. */
  onBootstrapToken?: (secret: string) => void;
  /** How often the tokens behind open streams are re-read (default 500 ms; tests set it long to isolate per-operation checks). */
  tokenPollMs?: number;
}

/**
 * Starts the control plane: store, bus, sync, the API. Single host (no NATS): plus one in-process
 * agent per configured gateway. Many hosts (NATS): no agents here; `switchboard agent` runs next to
 * each gateway, and any number of these replicas share one PostgreSQL database.
 */
export async function startSwitchboard(config: Config, options: StartOptions = {}): Promise<RunningSwitchboard> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = await openStoreFor(config, logger);
  let bus: Bus;
  try {
    bus = await createBus(config, { logger: logger.child({ part: 'bus' }), name: 'switchboard-control-plane' });
  } catch (e) {
    await store.close();
    throw e;
  }
  // Listed by this file: written, and back if a reload had removed it (see core/gateway-reload.ts).
  for (const g of config.gateways) await declareGateway(store, g);

  // Many hosts: the replicas of this deployment (one store) announce its id, so another deployment on
  // the same NATS prefix is seen and disconnects are refused while it is (see core/deployment-guard.ts).
  let guard: DeploymentGuard | null = null;
  if (bus.kind === 'nats') {
    try {
      guard = new DeploymentGuard({
        bus,
        logger: logger.child({ part: 'deployment' }),
        deploymentId: await store.deploymentId(),
        replicaId: newId('replica'),
        prefix: config.natsPrefix,
        periodMs: config.deploymentAnnounceMs,
      });
    } catch (e) {
      await bus.close();
      await store.close();
      throw e;
    }
  }
  const deploymentConflict = guard ? () => guard.conflict() : undefined;
  const intake = new ReportIntake({ logger: logger.child({ part: 'intake' }), deploymentId: guard?.deploymentId });
  // Sync and the disconnect use case of this process share what the daemons' reports settled.
  const settled = new SettledIntents();
  // And the daemons' reports of sessions whose kill awaits its reply (the reply settles them).
  const kills = new KillsInFlight();
  const core = new Switchboard({
    settled,
    kills,
    store,
    bus,
    logger,
    disconnectDeadlineMs: config.disconnectTimeoutMs,
    gatewayLivenessMs: config.gatewayLivenessMs,
    wireStatus: (id) => intake.status(id),
    tokenPollMs: options.tokenPollMs,
    deploymentConflict,
    deploymentId: guard?.deploymentId,
  });
  const api = createApiServer({
    core,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    metrics: config.metrics,
    rateLimitPerToken: config.rateLimitPerToken,
    rateLimitPerIp: config.rateLimitPerIp,
    caps: config.caps,
    readiness: createReadiness({ store, bus, deploymentConflict }),
  });
  // Listen before anything else starts: a taken port or a wrong host stops the process here, with
  // nothing running to undo and no bootstrap token minted whose only copy would die with it.
  try {
    await new Promise<void>((resolve, reject) => {
      api.server.once('error', reject);
      api.server.listen(config.port, config.host, () => {
        api.server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await bus.close();
    await store.close();
    throw listenError(e, config.host, config.port);
  }

  // One relay per process: it publishes the event outbox (whichever replica wrote it) to the bus.
  guard?.start();
  const relay = new EventRelay({
    store,
    bus,
    logger: logger.child({ part: 'events' }),
    onStoreHealth: (h) => core.eventStoreHealth(h),
  });
  relay.start();
  const sync = new SessionSync({ store, bus, logger, intake, settled, kills });
  sync.start();
  // Before the agents: an in-process agent gets its blocks with its first snapshot.
  const stopBlocks = core.deliverBlocks(sync);
  const inProcessAgents = bus.kind === 'memory';
  const adapters =
    options.adapters ??
    (inProcessAgents ? config.gateways.map((g) => createAdapter(g, logger, config.daemonProbe)) : []);
  const agents = new AgentLink({
    bus,
    adapters,
    // In-process agents serve this deployment and no other.
    deploymentId: guard?.deploymentId,
    logger,
    heartbeatMs: Math.max(1000, Math.floor(config.gatewayLivenessMs / 3)),
  });
  agents.start();
  // One dispatcher per process; with several replicas they split the outbox between them.
  const webhooks = new WebhookDispatcher({
    store,
    logger: logger.child({ part: 'webhooks' }),
    options: config.webhooks,
  });
  webhooks.start();
  // Every replica sweeps; the store lets one of them settle each intent.
  const horizon = new IntentHorizon({ store, logger, horizonMs: config.disconnectHorizonMs });
  horizon.start();

  const addr = api.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  logger.info(
    {
      url,
      store: store.dialect,
      bus: bus.kind,
      ...(bus.kind === 'nats' ? { natsPrefix: config.natsPrefix, deploymentId: await store.deploymentId() } : {}),
      gateways: adapters.length,
    },
    'switchboard started',
  );
  const heap = new HeapRelease();
  heap.start();

  let gateways = config.gateways;
  let reloading: Promise<GatewayChanges | null> = Promise.resolve(null);
  const reloadDeps = { store, now: Date.now };
  /** One reload at a time, in the order the signals came. */
  async function reload(): Promise<GatewayChanges | null> {
    if (config.configFile === null) {
      logger.warn('reload asked, but no gateway file is configured (SWITCHBOARD_CONFIG)');
      return null;
    }
    let next: GatewayConfig[];
    try {
      next = loadGatewayFile(config.configFile);
    } catch (e) {
      const message = errorText(e);
      logger.error({ error: message }, 'gateway file not reloaded: the running gateways stay as they were');
      await recordRefusedReload(reloadDeps, SYSTEM_ACTOR, message);
      return null;
    }
    const changes = diffGateways(gateways, next);
    if (inProcessAgents && !options.adapters) {
      await agents.reload(changes, (g) => createAdapter(g, logger, config.daemonProbe));
    }
    gateways = next;
    if (hasChanges(changes)) await recordReload(reloadDeps, SYSTEM_ACTOR, changes);
    logger.info(
      { added: changes.added.map((g) => g.id), removed: changes.removed, changed: changes.changed.map((g) => g.id) },
      'gateway file reloaded',
    );
    return changes;
  }

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    heap.stop();
    // In-flight requests finish first (a disconnect gets its answer, and its record, before the store closes).
    await api.drain(config.shutdownDrainMs);
    await webhooks.stop();
    await horizon.stop();
    await agents.stop();
    guard?.stop();
    sync.stop();
    stopBlocks();
    // Reports received before the stop are applied, within the same bound as the requests: a replica
    // that fell behind (a fleet's snapshots) would otherwise keep the shutdown waiting for minutes.
    let reportsTimer: NodeJS.Timeout | undefined;
    const reportsApplied = await Promise.race([
      sync.idle().then(() => true),
      new Promise<false>((resolve) => (reportsTimer = setTimeout(() => resolve(false), config.shutdownDrainMs))),
    ]);
    clearTimeout(reportsTimer);
    if (!reportsApplied) {
      logger.info(
        { boundMs: config.shutdownDrainMs },
        'gateway reports still being applied at the shutdown bound; those not started are dropped',
      );
      const dropped = await sync.abandon();
      logger.warn(
        { dropped, boundMs: config.shutdownDrainMs },
        'gateway reports not applied before the shutdown bound; the next snapshot of each gateway brings them',
      );
    }
    // What this process committed last is published now, if the bus lets it; else by another replica.
    await relay.stop();
    const drained = relay
      .drain()
      .catch((e: unknown) => logger.warn({ err: e }, 'events left for another replica to publish'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, 3000)))]);
    clearTimeout(timer);
    await bus.close();
    await store.close();
  };

  // Only now that the API listens: the token printed is one that a running server accepts.
  try {
    // The unlocked count spares a restart the lock; the locked check inside decides (replicas
    // starting together on a fresh database: one of them mints it).
    if ((await store.tokens.count()) === 0) {
      const first = await core.createBootstrapToken(SYSTEM_ACTOR);
      if (first !== null) options.onBootstrapToken?.(first.secret);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return {
    url,
    core,
    store,
    bus,
    sync,
    agents,
    relay,
    close,
    reloadGateways() {
      reloading = reloading.then(reload, reload);
      return reloading;
    },
  };
}
