/**
 * The store contract: one suite that every store runs (SQLite and PostgreSQL, see store.test.ts).
 * Tests share one database per run, so each works on its own fresh gateways, users and ids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { auditContract } from './contract/audit-contract.js';
import { blockContract } from './contract/block-contract.js';
import type { ContractContext } from './contract/fixtures.js';
import { gatewayContract } from './contract/gateway-contract.js';
import { intentContract } from './contract/intent-contract.js';
import { onlineCountContract } from './contract/online-count-contract.js';
import { readinessContract } from './contract/readiness-contract.js';
import { outboxContract } from './contract/outbox-contract.js';
import { sessionContract } from './contract/session-contract.js';
import { sessionHistoryContract } from './contract/session-history-contract.js';
import { sessionListContract } from './contract/session-list-contract.js';
import { tokenContract } from './contract/token-contract.js';
import { transactionContract } from './contract/transaction-contract.js';
import { webhookContract } from './contract/webhook-contract.js';
import { KyselyStore } from './kysely/kysely-store.js';
import type { Store } from './store.js';

/**
 * Registers the contract suite. `open` must open the same database every time it is called (the
 * suite opens it twice to check that migrating again is harmless); the suite closes what it opens.
 */
export function runStoreContract(
  name: string,
  open: () => Promise<Store>,
  options: Pick<ContractContext, 'auditRefusal' | 'ownerDb'> & { skip?: string | false } = {},
): void {
  describe(`store contract: ${name}`, { skip: options.skip ?? false }, () => {
    let store: Store | null = null;
    const ctx: ContractContext = {
      store: () => {
        assert.ok(store, 'the store was not opened');
        return store;
      },
      open,
      auditRefusal: options.auditRefusal,
      ownerDb: options.ownerDb,
    };
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    test('opening again runs no migration twice and keeps the data', async () => {
      const first = ctx.store();
      await first.gateways.upsert({
        id: 'gw-reopen',
        name: 'Reopen',
        region: 'r',
        protocol: 'openvpn',
        mode: 'observe',
      });
      const second = await open();
      try {
        assert.equal(second.dialect, first.dialect);
        assert.equal((await second.gateways.findById('gw-reopen'))?.name, 'Reopen');
        // The deployment's id, made once by the migrations: the same for every store (replica) on the database.
        assert.match(await first.deploymentId(), /^dep_[a-z0-9]{16}$/);
        assert.equal(await second.deploymentId(), await first.deploymentId());
        assert.ok(second instanceof KyselyStore);
        const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db);
        const names = applied.rows.map((r) => r.name);
        assert.ok(names.length >= 1);
        assert.equal(new Set(names).size, names.length, 'each migration recorded once');
        assert.ok(
          names.every((n) => /^\d{12}-[a-z0-9-]+$/.test(n)),
          'ids are YYYYMMDDHHMM-description',
        );
      } finally {
        await second.close();
      }
    });

    gatewayContract(ctx);
    sessionContract(ctx);
    sessionListContract(ctx);
    sessionHistoryContract(ctx);
    onlineCountContract(ctx);
    tokenContract(ctx);
    auditContract(ctx);
    transactionContract(ctx);
    webhookContract(ctx);
    readinessContract(ctx);
    blockContract(ctx);
    outboxContract(ctx);
    intentContract(ctx);
  });
}
