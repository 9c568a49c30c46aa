/**
 * Help and usage text, generated from the command table (commands.ts): a usage line per command, and
 * per command a line for each argument and option with its default.
 * @module
 */
import { COMMANDS, groupMembers, PUBLIC_WORMHOLE_RELAY, type CommandName, type CommandSpec, type OptionSpec } from './commands.js';

const BIN = 'backchannel';

function flag(key: string, o: OptionSpec): string {
  return o.type === 'string' ? `--${key} ${o.placeholder ?? 'VALUE'}` : `--${key}`;
}

/** `backchannel relay [--port N] … [--data DIR | --memory | --redis URL] [--quiet]` */
export function usageLine(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const words = [BIN, name, ...spec.positionals.map((p) => (p.optional ? `[<${p.name}>]` : `<${p.name}>`))];
  const grouped = new Set((spec.exclusive ?? []).flat());
  const placed = new Set<string>();
  for (const [key, o] of Object.entries(spec.options)) {
    if (placed.has(key)) continue;
    const group = grouped.has(key) ? spec.exclusive!.find((g) => g.includes(key))! : [key];
    for (const k of group) placed.add(k);
    const text = group.map((k) => flag(k, spec.options[k]!)).join(' | ');
    words.push(group.length === 1 && o.required ? text : `[${text}]`);
  }
  return words.join(' ');
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

function defaultOf(o: OptionSpec): string {
  if (o.required) return 'required';
  return `default: ${o.defaultText ?? o.default}`;
}

/** `backchannel <command> --help` */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const lines = [`${BIN} ${name} — ${spec.summary}`, '', `usage: ${usageLine(name)}`];
  if (spec.positionals.length > 0) {
    lines.push(
      '',
      'arguments:',
      ...table(spec.positionals.map((p) => [`<${p.name}>`, p.optional ? `${p.description} (default: ${p.defaultText})` : p.description])),
    );
  }
  lines.push(
    '',
    'options:',
    ...table([
      ...Object.entries(spec.options).map(([key, o]): [string, string] => [flag(key, o), `${o.description} (${defaultOf(o)})`]),
      ['-h, --help', 'show this help'],
    ]),
  );
  for (const group of spec.exclusive ?? []) lines.push('', `${group.map((k) => `--${k}`).join(', ')}: give at most one.`);
  for (const note of spec.notes ?? []) lines.push('', note);
  return lines.join('\n');
}

/** The usage lines of a group's commands (`backchannel wormhole --help`) or of all of them. */
export function usage(names: readonly CommandName[] = Object.keys(COMMANDS) as CommandName[]): string {
  return ['usage:', ...names.map((n) => `  ${usageLine(n)}`)].join('\n');
}

/** `backchannel --help` */
export function mainHelp(version: string): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  return [
    `${BIN} ${version} — pair with a one-time code, run a relay, talk to magic-wormhole`,
    '',
    usage(names),
    `  ${BIN} --help | --version`,
    '',
    'commands:',
    ...table(names.map((n) => [n, COMMANDS[n].summary])),
    '',
    `Run '${BIN} <command> --help' for its options and their defaults.`,
    `--relay defaults to $BACKCHANNEL_RELAY, else ${PUBLIC_WORMHOLE_RELAY}: the public`,
    'magic-wormhole mailbox, run by the magic-wormhole project. Pairing works through it; for your own',
    `relay, run '${BIN} relay' and pass --relay ws://HOST:PORT/v1.`,
    'Exit codes: 0 success, 1 the operation failed, 2 bad usage.',
  ].join('\n');
}

/** After a usage error: the command's usage (or the group's, or all), and where to read more. */
export function usageAfterError(command: string | undefined): string {
  if (command !== undefined && Object.hasOwn(COMMANDS, command)) {
    return `usage: ${usageLine(command as CommandName)}\nRun '${BIN} ${command} --help' for details.`;
  }
  const members = command === undefined ? [] : groupMembers(command);
  return `${usage(members.length > 0 ? members : undefined)}\nRun '${BIN} --help' for details.`;
}
