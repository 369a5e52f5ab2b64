import type { Migration, MigrationProvider } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';
import * as initialSchema from './202611291500-initial-schema.js';
import * as webhooks from './202611291600-webhooks.js';
import * as onlineCounters from './202611292000-online-counters.js';
import * as webhookLanes from './202612060710-webhook-lanes.js';
import * as gatewayCapabilitiesAndBlocks from './202612060730-gateway-capabilities-and-blocks.js';
import * as eventOutbox from './202612060800-event-outbox.js';
import * as daemonResponding from './202612060815-daemon-responding.js';
import * as disconnectIntents from './202612060820-disconnect-intents.js';
import * as requestIds from './202612061000-request-ids.js';
import * as sessionGroupAndDevice from './202612061150-session-group-and-device.js';
import * as onlineCounterShards from './202612061300-online-counter-shards.js';
import * as sessionHistory from './202612061500-session-history.js';
import * as gatewayStatusSinceAndLastError from './202612061530-gateway-status-since-and-last-error.js';
import * as sessionTransport from './202612061540-session-transport.js';
import * as gatewayLastSnapshot from './202612062000-gateway-last-snapshot.js';
import * as blockMessage from './202612061600-block-message.js';
import * as sessionsFillfactor from './202612062230-sessions-fillfactor.js';
import * as intentSessionIndex from './202612071100-intent-session-index.js';
import * as gatewayRemovedAt from './202612071200-gateway-removed-at.js';
import * as deploymentId from './202612080130-deployment-id.js';

/** One migration file: forward only; a fix is a new file, never an edit of an applied one. */
interface MigrationModule {
  up(db: MigrationDb, dialect: DialectName): Promise<void>;
}

/**
 * Every migration, by id `YYYYMMDDHHMM-description`. Append new ids at the end; never reorder or
 * rename one. Listed in code rather than found by scanning a folder, so the same list works under
 * tsx, from dist/ and from a bundle.
 */
const MIGRATIONS: Record<string, MigrationModule> = {
  '202611291500-initial-schema': initialSchema,
  '202611291600-webhooks': webhooks,
  '202611292000-online-counters': onlineCounters,
  '202612060710-webhook-lanes': webhookLanes,
  '202612060730-gateway-capabilities-and-blocks': gatewayCapabilitiesAndBlocks,
  '202612060800-event-outbox': eventOutbox,
  '202612060815-daemon-responding': daemonResponding,
  '202612060820-disconnect-intents': disconnectIntents,
  '202612061000-request-ids': requestIds,
  '202612061150-session-group-and-device': sessionGroupAndDevice,
  '202612061300-online-counter-shards': onlineCounterShards,
  '202612061500-session-history': sessionHistory,
  '202612061530-gateway-status-since-and-last-error': gatewayStatusSinceAndLastError,
  '202612061540-session-transport': sessionTransport,
  '202612061600-block-message': blockMessage,
  '202612062000-gateway-last-snapshot': gatewayLastSnapshot,
  '202612062230-sessions-fillfactor': sessionsFillfactor,
  '202612071100-intent-session-index': intentSessionIndex,
  '202612071200-gateway-removed-at': gatewayRemovedAt,
  '202612080130-deployment-id': deploymentId,
};

/**
 * Kysely's provider over the list above. PostgreSQL runs each migration in a transaction (Kysely
 * does that for dialects with transactional DDL); SQLite has transactional DDL as well but Kysely
 * does not use it there, so a migration is wrapped here and a failed one leaves nothing half-built.
 */
export function migrationProvider(dialect: DialectName): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [id, module] of Object.entries(MIGRATIONS)) {
        out[id] = {
          up: (db) =>
            dialect === 'sqlite' ? db.transaction().execute((trx) => module.up(trx, dialect)) : module.up(db, dialect),
        };
      }
      return out;
    },
  };
}
