/**
 * PostgreSQL for tests: a fresh, uniquely named database per suite, dropped at the end.
 * The server is the local one (127.0.0.1:5432, trust auth, user postgres); set
 * SWITCHBOARD_TEST_POSTGRES_URL to point at another admin connection.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { waitFor } from './wait.js';

const ADMIN_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// Generous: under a loaded CI machine a first connection can take seconds; a skip or failure must mean
// PostgreSQL is really not there.
const CONNECT_TIMEOUT_MS = 20_000;

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** True when the admin connection works. */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await withAdmin((c) => c.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/**
 * For `describe(name, { skip }, …)`: false when PostgreSQL is reachable, a skip message when it is
 * not. Under CI (`CI=true`) it never skips: it says why on stderr and returns false, so the suite
 * runs and fails on its first connection.
 */
export async function postgresSkipReason(): Promise<string | false> {
  if (await postgresAvailable()) return false;
  const message = `PostgreSQL is not reachable at ${redact(ADMIN_URL)}`;
  if (process.env.CI === 'true') {
    console.error(`${message}; CI requires it, so the PostgreSQL tests will fail`);
    return false;
  }
  return `${message}; skipping (set CI=true to make this a failure)`;
}

/** Creates `switchboard_test_<random>`; `drop()` removes it, closing any connection left open. */
export async function createFreshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `switchboard_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`create database ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** A fresh database of either dialect: SQLite in memory, or a new PostgreSQL database dropped by `drop`. */
export async function databaseFor(dialect: 'sqlite' | 'postgres'): Promise<{ url: string; drop(): Promise<void> }> {
  return dialect === 'postgres' ? createFreshPostgresDatabase() : { url: 'sqlite::memory:', drop: async () => {} };
}

/** A database of its own on one store: its URL, and `drop` to remove it. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * The two stores a suite runs on, each `open` a database of its own: SQLite in a file of a fresh
 * directory (a file, not `:memory:`, so that two stores opened on it, two replicas, share it; `drop`
 * removes the directory) and PostgreSQL a fresh database. `skip` says why PostgreSQL is not there.
 */
export async function bothStores(): Promise<{ name: string; skip: string | false; open(): Promise<TestDatabase> }[]> {
  return [
    {
      name: 'SQLite',
      skip: false,
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'sb-store-'));
        return {
          url: `sqlite:${join(dir, 'switchboard.db')}`,
          drop: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    },
    { name: 'PostgreSQL', skip: await postgresSkipReason(), open: createFreshPostgresDatabase },
  ];
}

/**
 * Waits until `count` sessions of `holder`'s database wait on a lock (behind what `holder` holds in
 * its open transaction): how a race test makes sure two transactions overlap before it lets them go.
 * pg_stat_activity is read once per transaction unless its snapshot is cleared.
 */
export async function waitForLockWaiters(holder: pg.Client, count: number, what: string): Promise<void> {
  const waiting = async () => {
    await holder.query('select pg_stat_clear_snapshot()');
    const r = await holder.query<{ n: string }>(
      `select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    );
    return Number(r.rows[0]!.n);
  };
  await waitFor(async () => (await waiting()) === count, 10_000, what);
}
