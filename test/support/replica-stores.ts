import { openStore } from '../../src/store/kysely/kysely-store.js';
import type { Store } from '../../src/store/store.js';
import { createFreshPostgresDatabase } from './postgres.js';

export interface ReplicaStores {
  a: Store;
  b: Store;
  /** Closes both stores and drops the database. */
  close(): Promise<void>;
}

/** Two stores on one fresh PostgreSQL database, each with its own pool, as two control-plane replicas have. */
export async function twoReplicaStores(): Promise<ReplicaStores> {
  const db = await createFreshPostgresDatabase();
  const a = await openStore(db.url);
  const b = await openStore(db.url);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await db.drop();
    },
  };
}
