/**
 * `switchboard migrate [--runtime-role NAME]`: brings the database schema up to date as the role in
 * SWITCHBOARD_DATABASE_URL (on PostgreSQL: the owner) and, with `--runtime-role`, grants the role
 * that replicas run as what they need and no more (docs/many-hosts.md, "Database roles").
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { migrateStoreFor, storeLabel } from '../main.js';
import { UsageError } from './usage-error.js';

export async function runMigrate(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { 'runtime-role': { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const runtimeRole = values['runtime-role'];
  if (runtimeRole === '') throw new UsageError('--runtime-role needs a role name');
  const config = loadConfig();
  process.stderr.write(`switchboard: migrating ${storeLabel(config.databaseUrl)}\n`);
  const report = await migrateStoreFor(config, { runtimeRole });
  for (const id of report.applied) process.stdout.write(`applied ${id}\n`);
  if (report.applied.length === 0) process.stdout.write('the schema is up to date\n');
  if (runtimeRole !== undefined) {
    process.stdout.write(`granted the runtime privileges to role ${runtimeRole}:\n`);
    for (const statement of report.grants) process.stdout.write(`  ${statement};\n`);
  }
  return 0;
}
