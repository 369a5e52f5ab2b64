/**
 * `switchboard agent`: runs next to one or more gateways on their host, owns each daemon's control
 * socket, and talks to the control plane over NATS only. It reports sessions (snapshots, deltas,
 * heartbeats) and executes disconnect requests for its gateways; it has no database, no API token
 * and no other power.
 */
import { ConfigError, loadConfig, loadGatewayFile } from '../config.js';
import { diffGateways } from '../core/gateway-reload.js';
import { errorText } from '../domain/errors.js';
import { AgentLink } from '../core/agent-link.js';
import { HeapRelease } from '../heap-release.js';
import { createAdapter, createBus, createLogger } from '../main.js';
import { parseCommand } from './command-line.js';

const USAGE = `Usage: switchboard agent

Runs next to one or more gateways on their host: holds each daemon's management connection, reports
its sessions to the control plane and executes disconnect requests, over NATS only. It needs
SWITCHBOARD_NATS_URL and a gateway file (SWITCHBOARD_CONFIG); it has no database and no API token.
SIGINT or SIGTERM stop it.

Takes no arguments: it is configured by SWITCHBOARD_* environment variables (see docs/many-hosts.md).

Options:
  -h, --help    show this help`;

export async function runAgent(args: string[]): Promise<number> {
  if (parseCommand({ name: 'agent', usage: USAGE, options: {} }, args) === null) return 0;
  const config = loadConfig();
  if (config.natsUrl === null)
    throw new ConfigError('SWITCHBOARD_NATS_URL: required by switchboard agent (e.g. nats://nats.internal:4222)');
  if (config.gateways.length === 0)
    throw new ConfigError('SWITCHBOARD_CONFIG: switchboard agent needs a gateway file that lists at least one gateway');

  const logger = createLogger(config.logLevel);
  const bus = await createBus(config, {
    logger: logger.child({ part: 'bus' }),
    name: `switchboard-agent:${config.gateways.map((g) => g.id).join(',')}`,
  });
  const adapters = config.gateways.map((g) => createAdapter(g, logger, config.daemonProbe));
  const link = new AgentLink({
    bus,
    adapters,
    logger,
    heartbeatMs: config.heartbeatMs,
    deploymentId: config.deploymentId,
  });
  link.start();
  new HeapRelease().start();
  logger.info(
    {
      agentId: link.agentId,
      gateways: config.gateways.map((g) => g.id),
      natsPrefix: config.natsPrefix,
      deploymentId: config.deploymentId,
      heartbeatMs: config.heartbeatMs,
    },
    'switchboard agent started',
  );
  process.stderr.write(
    `Switchboard agent ${link.agentId} is reporting ${config.gateways.length} gateway(s) over NATS\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'switchboard agent stopping');
    // Adapters first (they let go of the daemons' control sockets), then the bus, which lets
    // disconnect requests still running answer before it closes.
    link
      .stop()
      .then(() => bus.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          logger.error({ err: e }, 'switchboard agent did not stop cleanly');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGHUP reloads the gateway file: gateways added, removed or changed without a restart. The agent
  // has no database: it tells the replicas, per gateway on that gateway's subject, and they audit it
  // (`gateway.reload`) and end a removed gateway's sessions as GATEWAY_REMOVED.
  let gateways = config.gateways;
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      if (stopping) return;
      let next;
      try {
        next = loadGatewayFile(config.configFile!);
      } catch (e) {
        const error = errorText(e);
        logger.error({ error }, 'gateway file not reloaded: the running gateways stay as they were');
        for (const g of gateways) link.reloaded(g.id, 'refused', error);
        return;
      }
      const changes = diffGateways(gateways, next);
      await link.reload(changes, (g) => createAdapter(g, logger, config.daemonProbe));
      for (const id of changes.removed) link.reloaded(id, 'removed');
      for (const g of changes.changed) link.reloaded(g.id, 'changed');
      for (const g of changes.added) link.reloaded(g.id, 'added');
      gateways = next;
      logger.info(
        { added: changes.added.map((g) => g.id), removed: changes.removed, changed: changes.changed.map((g) => g.id) },
        'gateway file reloaded',
      );
    });
  });
  return -1; // keep running
}
