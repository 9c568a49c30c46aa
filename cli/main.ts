/**
 * The `backchannel` command: run a relay, pair with a code, or talk to the real `wormhole` CLI.
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage.
 * @module
 */
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { startRelay } from '../server/relay.js';
import { jsonLogger } from '../server/log.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { parseCode } from '../src/code/code.js';
import { BackchannelError } from '../src/errors.js';
import { createPairing } from '../src/pair.js';
import { receiveText, sendText } from './textTransfer.js';
import { runDemo } from './demo.js';

/** The public magic-wormhole mailbox, the seed's default `relay_server`. Tests always pass --relay. */
export const DEFAULT_RELAY = process.env.BACKCHANNEL_RELAY ?? 'ws://relay.magic-wormhole.io:4000/v1';

const USAGE = `usage:
  backchannel relay [--port N] [--host H] [--data DIR | --memory | --redis URL] [--quiet]
  backchannel invite [--relay URL]
  backchannel accept <code> [--relay URL]
  backchannel wormhole send --text <text> [--code <code>] [--relay URL]
  backchannel wormhole receive [<code>] [--relay URL]
  backchannel demo [--port N]

--relay defaults to $BACKCHANNEL_RELAY, else ${DEFAULT_RELAY}`;

class UsageError extends Error {}

const err = (line: string) => process.stderr.write(line + '\n');
const out = (line: string) => process.stdout.write(line + '\n');

function signalOnInterrupt(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const connector = nodeSocketConnector();
  switch (command) {
    case 'relay': {
      const { values } = parseArgs({
        args: rest,
        options: {
          port: { type: 'string', default: '4000' },
          host: { type: 'string', default: '127.0.0.1' },
          quiet: { type: 'boolean' },
          data: { type: 'string', default: './backchannel-relay-data' },
          memory: { type: 'boolean' },
          redis: { type: 'string' },
        },
      });
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${values.port}`);
      // The depot is kept on disk unless --memory: a restart must not lose deposits. With
      // --redis it lives there instead, shared (with pairing state and DISCOVER's topics) by every
      // relay on that Redis.
      const relay = await startRelay({
        port,
        host: values.host,
        log: values.quiet ? undefined : jsonLogger(),
        dataDir: values.memory ? undefined : values.data,
        redis: values.redis,
      });
      out(`relay listening on ${relay.url}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await relay.close();
      return 0;
    }
    case 'invite':
    case 'accept': {
      const { values, positionals } = parseArgs({ args: rest, options: { relay: { type: 'string', default: DEFAULT_RELAY } }, allowPositionals: true });
      const pair = createPairing({ relay: values.relay!, connector });
      const signal = signalOnInterrupt();
      if (command === 'invite') {
        const { code, done } = await pair.invite({ signal });
        out(`code: ${code}`);
        err('Give this code to the other person; they run: backchannel accept ' + code);
        const result = await done;
        out(`verifier: ${result.verifier}`);
      } else {
        if (positionals.length !== 1) throw new UsageError('accept takes exactly one code');
        const result = await pair.accept(positionals[0]!, { signal });
        out(`verifier: ${result.verifier}`);
      }
      err('Paired. Compare the verifier with the other person: if it matches, nobody is in the middle.');
      return 0;
    }
    case 'wormhole': {
      const [sub, ...args] = rest;
      if (sub === 'send') {
        const { values } = parseArgs({
          args,
          options: { text: { type: 'string' }, code: { type: 'string' }, relay: { type: 'string', default: DEFAULT_RELAY } },
        });
        if (values.text === undefined) throw new UsageError('wormhole send needs --text <text> (files are not supported)');
        const code = values.code === undefined ? undefined : parseCode(values.code, { checkWords: false }).text;
        await sendText({
          relay: values.relay!,
          connector,
          text: values.text,
          code,
          signal: signalOnInterrupt(),
          onCode: (c) => {
            err(`Wormhole code is: ${c}`);
            err('On the other computer, please run:\n\nwormhole receive ' + c + '\n');
          },
        });
        err('text message sent');
        return 0;
      }
      if (sub === 'receive') {
        const { values, positionals } = parseArgs({ args, options: { relay: { type: 'string', default: DEFAULT_RELAY } }, allowPositionals: true });
        let input = positionals[0];
        if (input === undefined) {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          input = await rl.question('Enter receive wormhole code: ');
          rl.close();
        }
        const code = parseCode(input, { checkWords: false }).text;
        const text = await receiveText({ relay: values.relay!, connector, code, signal: signalOnInterrupt() });
        out(text);
        return 0;
      }
      throw new UsageError(`unknown wormhole command ${JSON.stringify(sub)}`);
    }
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string', default: '0' } } });
      await runDemo({ port: Number(values.port), print: out });
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      err(`error: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (error instanceof BackchannelError) {
      err(`error: ${error.message} [${error.code}]`);
      process.exit(1);
    }
    err(`error: ${(error as Error)?.stack ?? String(error)}`);
    process.exit(1);
  },
);
