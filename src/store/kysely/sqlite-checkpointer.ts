import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';
import type { Logger } from '../../domain/logger.js';

/** Milliseconds between the checkpointer's passes. */
export const CHECKPOINT_INTERVAL_MS = 100;
/**
 * The server's own connection still checkpoints once the write-ahead log reaches this many pages
 * (about 40 MB), so the log stays bounded if the checkpointer falls behind or stops.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;
/**
 * Bytes the log file is cut back to when it starts over after a complete checkpoint: a burst (a
 * 100k-session snapshot writes about 50 MB of log) does not leave a file that size behind.
 */
export const LOG_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;
/** SQLite's default, restored if the checkpointer cannot run. */
const SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

interface CheckpointWorkerData {
  driver: string;
  path: string;
  intervalMs: number;
}
/** A pass whose result changed: pages in the log, pages of it now copied into the file. */
export interface CheckpointResult {
  log: number;
  checkpointed: number;
}

/**
 * The worker: its own connection to the file, a PASSIVE checkpoint every `intervalMs` (copy the
 * committed pages from the log into the file, then sync it), each change of its result posted
 * back. PASSIVE never waits for the writer or for readers, so the server's connection is never
 * held up. Plain JavaScript run with `eval`, so it needs no TypeScript loader under tsx and no
 * separate file in the build; better-sqlite3 is loaded from the path this module resolves.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
const checkpoint = db.prepare('pragma wal_checkpoint(passive)');
let posted = '';
const timer = setInterval(() => {
  let row;
  try {
    row = checkpoint.get();
  } catch (error) {
    // Another connection's checkpoint is running: skip this pass. Anything else ends the worker.
    if (error && (error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED')) return;
    throw error;
  }
  // log = -1: the file is not in WAL mode; 0: nothing written since the log was last restarted.
  // Posted when it changed: an idle server's log keeps its size until the next write restarts it.
  const now = row && row.log > 0 ? row.log + '/' + row.checkpointed : '';
  if (now !== '' && now !== posted) parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed });
  posted = now;
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Checkpoints a SQLite file in WAL mode from a worker thread. By default SQLite checkpoints inside
 * the commit that pushes the log past 1,000 pages: that commit copies the pages into the file and
 * syncs it twice, on the thread that serves requests. Measured under a load of disconnects, those
 * checkpoints were more than half of all commit time. Here the server's connection only appends
 * to the log, and the worker copies and syncs on another core.
 */
export class SqliteCheckpointer {
  #last: CheckpointResult | null = null;
  #passes = 0;
  #stopped = false;
  readonly #exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    db: SqliteDatabase.Database,
    logger?: Logger,
  ) {
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: CheckpointResult) => {
      this.#last = m;
      this.#passes++;
    });
    worker.on('error', (error) => {
      // Without the worker, SQLite's own checkpoints take over again.
      logger?.error({ err: error }, 'SQLite checkpointer failed; the server checkpoints inline');
      if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES}`);
    });
    // A store left open must not keep the process alive.
    worker.unref();
  }

  /** Starts checkpointing the file `db` (a connection in WAL mode) has open. */
  static start(db: SqliteDatabase.Database, logger?: Logger, intervalMs = CHECKPOINT_INTERVAL_MS): SqliteCheckpointer {
    db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${LOG_SIZE_LIMIT_BYTES}`);
    const workerData: CheckpointWorkerData = { driver: DRIVER, path: db.name, intervalMs };
    return new SqliteCheckpointer(new Worker(WORKER_SOURCE, { eval: true, workerData }), db, logger);
  }

  /** Passes whose result changed, and the latest of them. */
  stats(): { passes: number; last: CheckpointResult | null } {
    return { passes: this.#passes, last: this.#last };
  }

  /** Stops the worker and closes its connection; call before closing the server's connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), 2_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
