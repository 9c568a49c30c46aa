/**
 * The `backchannel` command: run a relay, pair with a code, or talk to the real `wormhole` CLI.
 * The commands, their options and defaults are the table in commands.ts; this file runs them.
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage.
 * @module
 */
import { readFileSync } from 'node:fs';
import { startRelay } from '../server/relay.js';
import { jsonLogger } from '../server/log.js';
import { resolveRelayConfig, type RelayConfig } from '../server/relayConfig.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { parseAnyCode } from '../src/code/anyCode.js';
import { parseCode } from '../src/code/code.js';
import { codeToDigits } from '../src/code/digits.js';
import { BackchannelError } from '../src/errors.js';
import { createPairing, MIN_INVITE_REFRESH_MS, type PairingStep } from '../src/pair.js';
import { COMMANDS, groupMembers, type CommandName, type Values } from './commands.js';
import { commandHelp, mainHelp, usage, usageAfterError } from './help.js';
import { findCommand, parseCommand, UsageError } from './parse.js';
import { askForCode } from './codePrompt.js';
import { describeStorage, listenFailure } from './relayStatus.js';
import { TransferRefused } from './fileTransfer.js';
import { wormholeReceive, wormholeSend } from './wormholeCommands.js';
import { parseTransitHelper } from '../src/wormhole/transitHints.js';
import { packageVersion } from './version.js';
import { runDemo } from './demo.js';

/** The operation failed for a reason the user can act on: one line, exit 1, no stack. */
class CommandFailed extends Error {}

const err = (line: string) => process.stderr.write(line + '\n');
const out = (line: string) => process.stdout.write(line + '\n');

function signalOnInterrupt(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}

/** The shortest `--refresh`: the SDK's `MIN_INVITE_REFRESH_MS`, in whole seconds. */
const MIN_REFRESH_SECONDS = Math.ceil(MIN_INVITE_REFRESH_MS / 1000);

/** `--refresh SECONDS`: a whole number of seconds, at least {@link MIN_REFRESH_SECONDS}; in ms. */
function refreshPeriod(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < MIN_REFRESH_SECONDS) {
    throw new UsageError(`--refresh must be a whole number of seconds, at least ${MIN_REFRESH_SECONDS}; got '${text}'`, 'invite');
  }
  return Number(text) * 1000;
}

/** An invite's code: on stdout, with its digits and (under --qr) its QR on stderr, and how long it lasts. */
async function showCode(code: string, values: { qr?: boolean }, refreshMs: number | undefined): Promise<void> {
  out(`code: ${code}`);
  err(`Give this code to the other person; they run: backchannel accept ${code}`);
  err(`or type it as digits: ${codeToDigits(code)}`);
  if (values.qr) {
    // Black on white on a terminal, so it scans on a dark theme too; plain characters into a pipe.
    const { qrTerminal } = await import('../src/code/qr.js'); // loads qrcode-generator only when asked
    err(qrTerminal(code, { ansi: process.stderr.isTTY === true }));
    err('The QR holds the whole code: show it only to the person you pair with.');
  }
  if (refreshMs !== undefined) err(`This code is replaced in ${refreshMs / 1000} s unless the other side has typed it by then.`);
}

function portNumber(text: string, command: CommandName, flag = '--port'): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`${flag} must be 0..65535, got '${text}'`, command);
  return port;
}

/** What a pairing is doing, on stderr, so a wait is never silent. */
const PROGRESS: Record<PairingStep, (relay: string) => string> = {
  connecting: (relay) => `connecting to ${relay}…`,
  waiting: () => 'waiting for the other side…',
  verifying: () => 'the other side is here; verifying that you both used the same code…',
  confirming: () => 'key verified; confirming the pairing with the other side…',
};

type Run<N extends CommandName> = (values: Values<(typeof COMMANDS)[N]>, positionals: string[]) => Promise<number>;

const connector = nodeSocketConnector();

const RUN: { [N in CommandName]: Run<N> } = {
  async relay(values) {
    const port = portNumber(values.port, 'relay');
    const transitPort = values['transit-port'] === undefined ? undefined : portNumber(values['transit-port'], 'relay', '--transit-port');
    const config = relayConfig(values);
    if (values['print-config']) {
      out(JSON.stringify(config, null, 2));
      return 0;
    }
    // The depot and pairing state are kept on disk unless --memory: a restart must not lose
    // deposits or pairings in flight. With --redis they live there instead, shared (with DISCOVER's
    // topics) by every relay on that Redis.
    const relay = await startRelay({
      port,
      host: values.host,
      log: values.quiet ? undefined : jsonLogger(),
      dataDir: values.memory || values.redis !== undefined ? undefined : values.data,
      redis: values.redis,
      limits: config.limits,
      depotLimits: config.depotLimits,
      discoveryLimits: config.discoveryLimits,
      transitPort,
      transitLimits: config.transitLimits,
      trustProxy: config.trustProxy,
      metrics: config.metrics,
      unlistedAppids: config.unlistedAppids,
    }).catch((error: unknown) => {
      // The transit port failing names its own flag.
      const failedPort = (error as { port?: unknown })?.port;
      const transit = transitPort !== undefined && failedPort === transitPort && failedPort !== port;
      const why = listenFailure(error, values.host, transit ? transitPort : port, transit ? '--transit-port' : '--port');
      throw why === undefined ? error : new CommandFailed(why);
    });
    // Listen for the signals before saying how to stop: a Ctrl-C right after the hint must not find
    // the default handler (which kills the process without closing the relay).
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    out(`relay listening on ${relay.url}`);
    if (relay.transit) out(`transit relay listening on ${relay.transit.hint}`);
    out(`data: ${describeStorage(values)}`);
    err('Ctrl-C to stop');
    await stopped;
    await relay.close();
    return 0;
  },

  async invite(values) {
    const refreshMs = values.refresh === undefined ? undefined : refreshPeriod(values.refresh);
    const pair = createPairing({ relay: values.relay, connector });
    // The SDK renews the code (`refreshMs`); here each code is shown as it comes, in order.
    let shown = 0;
    let showing = Promise.resolve();
    const onCode = (code: string) => {
      showing = showing.then(() => showCode(code, values, refreshMs)).then(() => void (shown++ === 0 && err(PROGRESS.waiting(values.relay))));
    };
    // The inviter's 'waiting' comes with its code: it is printed after the first code, above; a renewal's 'connecting' is not news.
    const onProgress = (next: PairingStep) => next !== 'waiting' && (shown === 0 || next !== 'connecting') && err(PROGRESS[next](values.relay));
    const { done } = await pair.invite({ signal: signalOnInterrupt(), onProgress, onCode, ...(refreshMs === undefined ? {} : { refreshMs }) });
    const { verifier } = await done;
    await showing;
    paired(verifier);
    return 0;
  },

  async accept(values, [input]) {
    const code = parseAnyCode(input ?? (await promptForCode()), { words: 2 }).text;
    const pair = createPairing({ relay: values.relay, connector });
    const onProgress = (step: PairingStep) => err(PROGRESS[step](values.relay));
    paired((await pair.accept(code, { signal: signalOnInterrupt(), onProgress })).verifier);
    return 0;
  },

  async 'wormhole send'(values, [what]) {
    if ((what === undefined) === (values.text === undefined)) {
      throw new UsageError(
        what === undefined ? 'give a file or directory to send, or --text TEXT' : 'give either a file or directory, or --text, not both',
        'wormhole send',
      );
    }
    const code = values.code === undefined ? undefined : parseCode(values.code, { checkWords: false }).text;
    await wormholeSend(
      {
        what,
        text: values.text,
        code,
        relay: values['relay-url'] ?? values.relay,
        transitHelper: transitHelper(values['transit-helper'], 'wormhole send'),
        hideProgress: values['hide-progress'],
      },
      { out, err, signal: signalOnInterrupt() },
    ).catch(refusedAsFailure);
    return 0;
  },

  async 'wormhole receive'(values, [input]) {
    const code = parseCode(input ?? (await promptForCode('Enter receive wormhole code: ')), { checkWords: false }).text;
    await wormholeReceive(
      {
        code,
        relay: values['relay-url'] ?? values.relay,
        transitHelper: transitHelper(values['transit-helper'], 'wormhole receive'),
        hideProgress: values['hide-progress'],
        acceptFile: values['accept-file'],
        outputFile: values['output-file'],
      },
      { out, err, signal: signalOnInterrupt() },
    ).catch(refusedAsFailure);
    return 0;
  },

  async demo(values) {
    await runDemo({ port: portNumber(values.port, 'demo'), print: out });
    return 0;
  },
};

/** --transit-helper checked before anything connects: a bad one is a usage error. */
function transitHelper(text: string, command: CommandName): string {
  try {
    parseTransitHelper(text);
  } catch (error) {
    throw new UsageError(`--transit-helper: ${(error as Error).message}`, command);
  }
  return text;
}

/** A refusal (file exists, nothing to send) is the user's to fix: one line, exit 1. */
function refusedAsFailure(error: unknown): never {
  throw error instanceof TransferRefused ? new CommandFailed(error.message) : error;
}

/** The code typed on the terminal (Tab completes its words), or a one-line failure when none came. */
async function promptForCode(prompt?: string): Promise<string> {
  const typed = await askForCode({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true }, prompt);
  if (typed === undefined) {
    err(''); // end the prompt's line
    throw new CommandFailed('no code given: pass it as an argument, or type it when asked');
  }
  return typed;
}

/** Limits and settings from --config FILE and the flags; a bad file or value is a usage error. */
function relayConfig(values: Values<(typeof COMMANDS)['relay']>): RelayConfig {
  let file: { name: string; json: unknown } | undefined;
  if (values.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (error) {
      throw new CommandFailed(`cannot read --config ${values.config}: ${(error as Error).message}`);
    }
    try {
      file = { name: values.config, json: JSON.parse(text) };
    } catch (error) {
      throw new UsageError(`${values.config} is not JSON: ${(error as Error).message}`, 'relay');
    }
  }
  try {
    return resolveRelayConfig({ file, limit: values.limit, trustProxy: values['trust-proxy'], metrics: values.metrics });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message, 'relay');
    throw error;
  }
}

function paired(verifier: string): void {
  out(`verifier: ${verifier}`);
  err('Paired. Compare the verifier with the other person: if it matches, nobody is in the middle.');
}

async function runCommand<N extends CommandName>(name: N, args: string[]): Promise<number> {
  const parsed = parseCommand(name, args);
  if (parsed.help) {
    out(commandHelp(name));
    return 0;
  }
  return (RUN[name] as Run<N>)(parsed.values, parsed.positionals);
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    err(`${usage()}\nRun 'backchannel --help' for details.`);
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const about = argv[1] === undefined ? undefined : findCommand(argv.slice(1));
    out(about && 'name' in about ? commandHelp(about.name) : mainHelp(packageVersion()));
    return 0;
  }
  if (first === '--version' || first === '-V') {
    out(packageVersion());
    return 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    throw new UsageError(first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`);
  }
  if ('group' in found) {
    const [sub] = found.args;
    if (sub === '--help' || sub === '-h') {
      out(usage(groupMembers(found.group)));
      return 0;
    }
    const choices = groupMembers(found.group)
      .map((n) => n.slice(found.group.length + 1))
      .join(' or ');
    throw new UsageError(sub === undefined ? `${found.group} needs a command: ${choices}` : `unknown ${found.group} command '${sub}'`, found.group);
  }
  return runCommand(found.name, found.args);
}

/** Run the `backchannel` command on `argv` (the arguments after the script) and exit with its code. */
export function runCli(argv: string[] = process.argv.slice(2)): void {
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        err(`error: ${error.message}\n\n${usageAfterError(error.command)}`);
        process.exit(2);
      }
      if (error instanceof CommandFailed) {
        err(`error: ${error.message}`);
        process.exit(1);
      }
      if (error instanceof BackchannelError) {
        err(`error: ${error.message} [${error.code}]`);
        process.exit(1);
      }
      err(`error: ${(error as Error)?.stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
