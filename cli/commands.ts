/**
 * The `backchannel` commands as data: name, summary, arguments and options with their defaults. The
 * parser (parse.ts) and the help text (help.ts) are both generated from this table, so they agree.
 * @module
 */

import { DEFAULT_LIMITS, LIMIT_DOCS } from '../server/limits.js';

/**
 * The public magic-wormhole mailbox, run by the magic-wormhole project (not by Backchannel); the seed's
 * `relay_server` (src/db/schema.ts), not imported from there so `--help` does not load Automerge.
 */
export const PUBLIC_WORMHOLE_RELAY = 'ws://relay.magic-wormhole.io:4000/v1';

/** Where `--relay` points unless given: `$BACKCHANNEL_RELAY`, else the public mailbox. Tests always pass --relay. */
export const DEFAULT_RELAY = process.env.BACKCHANNEL_RELAY || PUBLIC_WORMHOLE_RELAY;

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** The value's name in usage lines: `--port N`. */
  readonly placeholder?: string;
  /** Applied after parsing, so the exclusivity check sees only what was typed. */
  readonly default?: string;
  /** How help shows the default when it is not a literal value ("off", "a new code"). */
  readonly defaultText?: string;
  readonly required?: boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
  /** What happens without it. */
  readonly defaultText?: string;
}

export interface CommandSpec {
  readonly summary: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Groups of options of which at most one may be given. */
  readonly exclusive?: readonly (readonly string[])[];
  /** Extra lines at the end of the command's help. */
  readonly notes?: readonly string[];
}

const relayOption = {
  type: 'string',
  placeholder: 'URL',
  description: 'the mailbox relay both sides meet at',
  default: DEFAULT_RELAY,
  defaultText: `$BACKCHANNEL_RELAY if set${process.env.BACKCHANNEL_RELAY ? ` (now ${process.env.BACKCHANNEL_RELAY})` : ''}, else ${PUBLIC_WORMHOLE_RELAY}, the public magic-wormhole mailbox`,
} as const satisfies OptionSpec;

/** magic-wormhole's own spelling of --relay, so its command lines work here too. */
const relayUrlOption = {
  type: 'string',
  placeholder: 'URL',
  description: 'the same as --relay (the name magic-wormhole uses)',
  defaultText: '--relay',
} as const satisfies OptionSpec;

/** The public transit relay, run by the magic-wormhole project: what `wormhole` uses unless told. */
export const PUBLIC_TRANSIT_HELPER = 'tcp:transit.magic-wormhole.io:4001';

/** Where files go through unless --transit-helper: `$BACKCHANNEL_TRANSIT_HELPER`, else the public transit relay. */
export const DEFAULT_TRANSIT_HELPER = process.env.BACKCHANNEL_TRANSIT_HELPER || PUBLIC_TRANSIT_HELPER;

const transitHelperOption = {
  type: 'string',
  placeholder: 'tcp:HOST:PORT',
  description: 'the transit relay file bytes go through (`backchannel relay --transit-port` serves one)',
  default: DEFAULT_TRANSIT_HELPER,
  defaultText: `$BACKCHANNEL_TRANSIT_HELPER if set, else ${PUBLIC_TRANSIT_HELPER}, the public transit relay`,
} as const satisfies OptionSpec;

const TRANSIT_NOTE =
  'Files and directories go end-to-end encrypted through a transit relay (the mailbox carries only the\n' +
  'offer); we never listen for direct connections and dial only transit relays.';

/** One line per relay limit, from the limits table: name, default, meaning. */
function limitNotes(): string[] {
  const names = Object.keys(LIMIT_DOCS) as (keyof typeof LIMIT_DOCS)[];
  const width = Math.max(...names.map((n) => n.length));
  return names.map((n) => `  ${n.padEnd(width)}  ${LIMIT_DOCS[n]} (default: ${DEFAULT_LIMITS[n]})`);
}

export const COMMANDS = {
  relay: {
    summary: 'run a relay: the magic-wormhole mailbox at /v1 and DISCOVER at /backchannel/v2, on one port',
    positionals: [],
    options: {
      port: { type: 'string', placeholder: 'N', description: 'port to listen on; 0 picks a free one', default: '4000' },
      host: { type: 'string', placeholder: 'H', description: 'interface to bind; 0.0.0.0 exposes the relay to the network', default: '127.0.0.1' },
      data: {
        type: 'string',
        placeholder: 'DIR',
        description: 'keep the depot (sealed changes for offline contacts) on disk in DIR, so a restart loses nothing',
        default: './backchannel-relay-data',
      },
      memory: { type: 'boolean', description: 'keep everything in memory: lost when the relay stops', defaultText: 'off' },
      'transit-port': {
        type: 'string',
        placeholder: 'N',
        description: 'also be a transit relay (file transfers of `wormhole send`) on this TCP port; 0 picks a free one',
        defaultText: 'off',
      },
      redis: { type: 'string', placeholder: 'URL', description: 'keep pairing state and the depot in Redis, shared by every relay on it', defaultText: 'none' },
      quiet: { type: 'boolean', description: 'no JSON-line logs on stderr', defaultText: 'off' },
      config: {
        type: 'string',
        placeholder: 'FILE',
        description: 'JSON file of limits, trusted proxies and metrics access (see docs/server-operations.md)',
        defaultText: 'none',
      },
      limit: { type: 'string', placeholder: 'NAME=N,…', description: 'set limits by name (listed below); over --config', defaultText: 'none' },
      'trust-proxy': {
        type: 'string',
        placeholder: 'ADDRS',
        description: 'believe X-Forwarded-For only from these comma-separated proxy addresses',
        defaultText: 'none',
      },
      metrics: { type: 'string', placeholder: 'WHO', description: 'who may read GET /metrics: loopback, public or off', defaultText: 'loopback' },
      'print-config': { type: 'boolean', description: 'print the effective limits and settings as JSON and exit', defaultText: 'off' },
    },
    exclusive: [['data', 'memory', 'redis']],
    notes: [
      ['limits (--limit NAME=N or "limits" in --config):', ...limitNotes()].join('\n'),
      'The depot\'s and DISCOVER\'s limits: --limit depot.NAME=N and discover.NAME=N ("depotLimits" and\n"discoveryLimits" in --config); --print-config shows them all.',
      'The transit relay\'s limits (--transit-port): --limit transit.NAME=N ("transitLimits" in --config).',
    ],
  },
  invite: {
    summary: 'start a pairing: print a one-time code, wait for the other side, print the verifier',
    positionals: [],
    options: {
      relay: relayOption,
      qr: { type: 'boolean', description: 'also show the code as a QR code (on stderr) for a phone to scan', defaultText: 'off' },
      refresh: {
        type: 'string',
        placeholder: 'SECONDS',
        description: 'replace the code with a new one every SECONDS until someone answers it (each new code printed, with its QR under --qr)',
        defaultText: 'one code until it is answered',
      },
    },
    notes: [
      'The code is also shown as digits, for a phone keypad. Code, digits and QR are one secret: show them only to the person you pair with.',
      'With --refresh an old code stops working once the next one is shown.',
    ],
  },
  accept: {
    summary: 'join a pairing with the code the other side gave you, print the verifier',
    positionals: [
      {
        name: 'code',
        description: 'the code from `backchannel invite`: words (7-guitarist-revenge), digits (7-105-169-9) or a redeem link (https://…#7-guitarist-revenge)',
        optional: true,
        defaultText: 'asked for on the terminal; Tab completes the words',
      },
    ],
    options: { relay: relayOption },
  },
  'wormhole send': {
    summary: 'send a file, a directory or a text to the real `wormhole receive` (magic-wormhole, wormhole-william)',
    positionals: [{ name: 'path', description: 'the file or directory to send (a directory goes as a zip)', optional: true, defaultText: 'none: give --text' }],
    options: {
      text: { type: 'string', placeholder: 'TEXT', description: 'send this text instead of a file', defaultText: 'none' },
      code: { type: 'string', placeholder: 'CODE', description: 'use this code instead of asking the relay for one', defaultText: 'a new code from the relay' },
      relay: relayOption,
      'relay-url': relayUrlOption,
      'transit-helper': transitHelperOption,
      'hide-progress': { type: 'boolean', description: 'no progress bar', defaultText: 'off' },
    },
    exclusive: [['relay', 'relay-url']],
    notes: [TRANSIT_NOTE],
  },
  'wormhole receive': {
    summary: 'receive a file, a directory or a text from the real `wormhole send` (or ours)',
    positionals: [{ name: 'code', description: 'the code the sender shows', optional: true, defaultText: 'asked for on the terminal' }],
    options: {
      relay: relayOption,
      'relay-url': relayUrlOption,
      'transit-helper': transitHelperOption,
      'accept-file': { type: 'boolean', description: 'take a file or directory without asking', defaultText: 'off: ask' },
      'output-file': {
        type: 'string',
        placeholder: 'PATH',
        description: 'write the file or directory here (replacing what is there)',
        defaultText: 'the offered name in the working directory, never overwriting',
      },
      'hide-progress': { type: 'boolean', description: 'no progress bar', defaultText: 'off' },
    },
    exclusive: [['relay', 'relay-url']],
    notes: [TRANSIT_NOTE],
  },
  demo: {
    summary: 'run the README walk-through in one process: a relay, Alice and Bob pair, chat, and Bob gets what was sent while he was away',
    positionals: [],
    options: { port: { type: 'string', placeholder: 'N', description: "the demo relay's port on 127.0.0.1; 0 picks a free one", default: '0' } },
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** The parsed options of one command, typed from its table entry. */
export type Values<C extends CommandSpec> = {
  -readonly [K in keyof C['options']]: C['options'][K] extends { type: 'boolean' }
    ? boolean
    : C['options'][K] extends { default: string } | { required: true }
      ? string
      : string | undefined;
};

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** The commands under a first word: `wormhole` → `wormhole send`, `wormhole receive`. */
export function groupMembers(group: string): CommandName[] {
  return (Object.keys(COMMANDS) as CommandName[]).filter((name) => name.startsWith(`${group} `));
}
