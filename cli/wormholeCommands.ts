/**
 * `backchannel wormhole send` / `receive`: text through the mailbox alone (textTransfer.ts), files and
 * directories through a transit relay (src/wormhole/fileTransfer.ts, fileTransfer.ts here), with a
 * progress bar on stderr. Messages follow the Python CLI's wording, so people (and scripts) that know
 * `wormhole` recognise them.
 * @module
 */
import { createInterface } from 'node:readline/promises';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { nodeTcpConnector } from '../src/adapters/nodeTcp.js';
import { TransferFailedError } from '../src/errors.js';
import { offerSize, receive, sendFile } from '../src/wormhole/fileTransfer.js';
import { parseTransitHelper } from '../src/wormhole/transitHints.js';
import { prepareSend, sinkFor, TransferRefused } from './fileTransfer.js';
import { humanSize, progressBar } from './progressBar.js';
import { sendText } from './textTransfer.js';

export interface WormholeIo {
  out(line: string): void;
  err(line: string): void;
  signal: AbortSignal;
}

interface Common {
  relay: string;
  code?: string;
  transitHelper: string;
  hideProgress: boolean;
}

const connector = nodeSocketConnector();

function announceCode(io: WormholeIo, code: string): void {
  io.err(`Wormhole code is: ${code}`);
  io.err('On the other computer, please run:\n\nwormhole receive ' + code + '\n');
}

/** Send `what` (a path) or `text`; exactly one is given (main checks). */
export async function wormholeSend(options: Common & { what?: string; text?: string }, io: WormholeIo): Promise<void> {
  if (options.text !== undefined) {
    io.err(`Sending text message (${humanSize(new TextEncoder().encode(options.text).length)})`);
    await sendText({ relay: options.relay, connector, text: options.text, code: options.code, signal: io.signal, onCode: (c) => announceCode(io, c) });
    io.err('text message sent');
    return;
  }
  const transitRelays = [parseTransitHelper(options.transitHelper)];
  if (options.what === undefined) throw new TransferRefused('nothing to send');
  const prepared = await prepareSend(options.what);
  const bar = progressBar(process.stderr, options.hideProgress);
  try {
    io.err(`Sending ${humanSize(offerSize(prepared.offer))} ${prepared.what}`);
    const { sha256 } = await sendFile({
      relay: options.relay,
      connector,
      code: options.code,
      signal: io.signal,
      offer: prepared.offer,
      source: prepared.source,
      transitRelays,
      byteConnector: nodeTcpConnector(),
      onCode: (c) => announceCode(io, c),
      onConnected: (via) => io.err(`Sending (->relay:${via})..`),
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.stop();
    io.err(`Confirmation received. Transfer complete. (sha256 ${sha256})`);
  } finally {
    bar.stop();
    await prepared.cleanup();
  }
}

/** Ask "ok? (Y/n)" on the terminal; an empty answer or y… is yes, end of input is no. */
async function askPermission(io: WormholeIo): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  try {
    const answer = await rl.question('ok? (Y/n): ', { signal: io.signal }).catch(() => undefined);
    return answer !== undefined && (answer === '' || answer.toLowerCase().startsWith('y'));
  } finally {
    rl.close();
  }
}

export async function wormholeReceive(options: Common & { code: string; acceptFile: boolean; outputFile?: string }, io: WormholeIo): Promise<void> {
  const bar = progressBar(process.stderr, options.hideProgress);
  let destination = '';
  try {
    const result = await receive({
      relay: options.relay,
      connector,
      code: options.code,
      signal: io.signal,
      transitRelays: [parseTransitHelper(options.transitHelper)],
      byteConnector: nodeTcpConnector(),
      accept: async (offer) => {
        const target = await sinkFor(offer, { outputFile: options.outputFile });
        destination = target.destination;
        if ('file' in offer) io.err(`Receiving file (${humanSize(offer.file.filesize)}) into: ${target.destination}`);
        else {
          io.err(`Receiving directory (${humanSize(offer.directory.zipsize)}) into: ${target.destination}/`);
          io.err(`${offer.directory.numfiles} files, ${humanSize(offer.directory.numbytes)} (uncompressed)`);
        }
        if (!options.acceptFile && !(await askPermission(io))) {
          await target.sink.abort();
          io.err('transfer rejected');
          throw new TransferFailedError('transfer rejected', { reason: 'rejected' });
        }
        return target.sink;
      },
      onConnected: (via) => io.err(`Receiving (<-relay:${via})..`),
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.stop();
    if (result.kind === 'text') io.out(result.text);
    else if ('file' in result.offer) io.err(`Received file written to ${destination}`);
    else io.err(`Received files written to ${destination}/`);
  } finally {
    bar.stop();
  }
}
