/**
 * One way every `switchboard` command reads its arguments (node's `util.parseArgs`, strict): `--help`
 * or `-h` anywhere before `--` prints the command's usage and acts on nothing; an unknown option, a
 * missing value or a stray argument is refused in one line naming it (exit 2, see UsageError).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  /** The command as typed after `switchboard`, e.g. `token create`. */
  name: string;
  /** The whole `--help` text. */
  usage: string;
  options: O;
  /** Names of the positional arguments, all required (shown in messages). */
  positionals?: readonly string[];
}

export interface ParsedCommand<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values'];
  positionals: string[];
}

/** Whether `args` ask for help: `--help` or `-h` before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** A refusal in one line: what was wrong and where the usage is. */
export function usageError(command: string, problem: string): UsageError {
  return new UsageError(`${command}: ${problem}; see 'switchboard ${command} --help'`);
}

/**
 * Parses `args` for `spec`. Returns null after printing the usage when help was asked for (the
 * command then returns 0 without doing anything); throws a UsageError for anything it does not know.
 */
export function parseCommand<O extends Options>(spec: CommandSpec<O>, args: string[]): ParsedCommand<O> | null {
  if (wantsHelp(args)) {
    process.stdout.write(`${spec.usage.trimEnd()}\n`);
    return null;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec.options, strict: true, allowPositionals: true });
  } catch (e) {
    throw usageError(spec.name, describeParseError(e as Error & { code?: string }));
  }
  const expected = spec.positionals ?? [];
  const { positionals } = parsed;
  if (positionals.length > expected.length) {
    const stray = positionals[expected.length]!;
    throw usageError(spec.name, `unexpected argument '${stray}'`);
  }
  if (positionals.length < expected.length) throw usageError(spec.name, `missing ${expected[positionals.length]}`);
  return { values: parsed.values as ParsedCommand<O>['values'], positionals };
}

/** node's messages, shortened to one clause (its unknown-option text runs on about `--`). */
function describeParseError(e: Error & { code?: string }): string {
  const quoted = /'([^']+)'/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? '?'}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return e.message.includes('argument missing')
        ? `option '${quoted?.replace(/ <value>$/, '') ?? '?'}' needs a value`
        : e.message.split('\n')[0]!.replace(/\.$/, '');
    default:
      return e.message.split('\n')[0]!.replace(/\.$/, '');
  }
}
