/**
 * Command lines → a command and its typed values, with node:util's parseArgs driven by the table in
 * commands.ts. Every mistake is a `UsageError` (exit 2) naming the command whose usage to show.
 * @module
 */
import { parseArgs } from 'node:util';
import { COMMANDS, groupMembers, isCommandName, type CommandName, type CommandSpec, type Values } from './commands.js';

export class UsageError extends Error {
  /** The command (or group, e.g. `wormhole`) whose usage follows the message; none: the whole list. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export type Parsed<C extends CommandSpec> = { help: false; values: Values<C>; positionals: string[] } | { help: true };

/** `['wormhole', 'send', …]` → the command `wormhole send` and the rest; a word shared by several commands is a group. */
export function findCommand(argv: readonly string[]): { name: CommandName; args: string[] } | { group: string; args: string[] } | undefined {
  const [first, second, ...rest] = argv;
  if (first === undefined) return undefined;
  const two = `${first} ${second}`;
  if (second !== undefined && isCommandName(two)) return { name: two, args: rest };
  if (isCommandName(first)) return { name: first, args: argv.slice(1) };
  if (groupMembers(first).length > 0) return { group: first, args: argv.slice(1) };
  return undefined;
}

export function parseCommand<N extends CommandName>(name: N, args: string[]): Parsed<(typeof COMMANDS)[N]> {
  const spec: CommandSpec = COMMANDS[name];
  const options = Object.fromEntries(Object.entries(spec.options).map(([key, o]) => [key, { type: o.type }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.positionals.length > 0, strict: true });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), name);
  }
  if (parsed.values.help) return { help: true };

  const given = Object.keys(parsed.values);
  for (const group of spec.exclusive ?? []) {
    const clash = group.filter((key) => given.includes(key));
    if (clash.length > 1) throw new UsageError(`${clash.map((k) => `--${k}`).join(' and ')} cannot be used together: pick one`, name);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [key, o] of Object.entries(spec.options)) {
    const value = parsed.values[key] as string | boolean | undefined;
    if (value === undefined && o.required) throw new UsageError(`--${key} is required`, name);
    values[key] = value ?? (o.type === 'boolean' ? false : o.default);
  }
  const required = spec.positionals.filter((p) => !p.optional).length;
  const { positionals } = parsed;
  if (positionals.length < required) throw new UsageError(`missing <${spec.positionals[positionals.length]!.name}>`, name);
  if (positionals.length > spec.positionals.length) throw new UsageError(`unexpected argument '${positionals[spec.positionals.length]}'`, name);
  return { help: false, values: values as Values<(typeof COMMANDS)[N]>, positionals };
}

/** parseArgs' first sentence, which names the option ("Unknown option '--bogus'"), in our lower case. */
function parseArgsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const missing = /^Option '(-\S+?)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  const first = message.split(/\.\s/)[0]!;
  return first.charAt(0).toLowerCase() + first.slice(1);
}
