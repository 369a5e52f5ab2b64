/**
 * `switchboard migrate [--runtime-role NAME]`: brings the database schema up to date as the role in
 * SWITCHBOARD_DATABASE_URL (on PostgreSQL: the owner) and, with `--runtime-role`, grants the role
 * that replicas run as what they need and no more (docs/many-hosts.md, "Database roles").
 */
import { loadConfig } from '../config.js';
import { describeStore, migrateStoreFor } from '../main.js';
import { parseCommand, usageError } from './command-line.js';

const USAGE = `Usage: switchboard migrate [--runtime-role NAME]

Applies the database migrations not applied yet, as the role in SWITCHBOARD_DATABASE_URL (on
PostgreSQL: the owner of the database), and prints them. \`switchboard start\` applies them too when
its role may; run this as a deploy step when replicas run as a runtime role (docs/many-hosts.md).

Options:
  --runtime-role NAME   PostgreSQL: grant NAME, the role replicas connect as, reading and writing
                        every table, but only reading and appending to the audit trail; prints the
                        statements it ran
  -h, --help            show this help`;

export async function runMigrate(args: string[]): Promise<number> {
  const parsed = parseCommand({ name: 'migrate', usage: USAGE, options: { 'runtime-role': { type: 'string' } } }, args);
  if (parsed === null) return 0;
  const { values } = parsed;
  const runtimeRole = values['runtime-role'];
  if (runtimeRole === '') throw usageError('migrate', "option '--runtime-role' needs a role name");
  const config = loadConfig();
  process.stderr.write(`switchboard: migrating ${describeStore(config.databaseUrl).label}\n`);
  const report = await migrateStoreFor(config, { runtimeRole });
  for (const id of report.applied) process.stdout.write(`applied ${id}\n`);
  if (report.applied.length === 0) process.stdout.write('the schema is up to date\n');
  if (runtimeRole !== undefined) {
    process.stdout.write(`granted the runtime privileges to role ${runtimeRole}:\n`);
    for (const statement of report.grants) process.stdout.write(`  ${statement};\n`);
  }
  return 0;
}
