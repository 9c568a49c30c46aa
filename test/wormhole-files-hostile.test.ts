/**
 * A hostile sender against our receiving side: zips that escape the target (made by Python's zipfile,
 * which writes any name), zip bombs and more files than offered, offered names with path parts,
 * existing files, and a sender that sends more bytes than it offered or a wrong hash in the ack.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sinkFor, safeName, TransferRefused, unzipInto } from '../cli/fileTransfer.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { nodeTcpConnector } from '../src/adapters/nodeTcp.js';
import { utf8 } from '../src/crypto/bytes.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { TooLargeError } from '../src/errors.js';
import { receive, sendFile, type FileSink } from '../src/wormhole/fileTransfer.js';
import { connectTransit } from '../src/wormhole/transitConnection.js';
import { parseTransitHelper, relayHintsOf, transitMessage } from '../src/wormhole/transitHints.js';
import { deriveTransitKey, FILE_TRANSFER_APPID } from '../src/wormhole/transitKeys.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { startRelay, type Relay } from '../server/relay.js';
import { SYSTEM_PYTHON } from './helpers/processes.js';

const work = mkdtempSync(join(tmpdir(), 'bc-hostile-files-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(work, `d${n++}`);
  mkdirSync(dir);
  return dir;
};

/** A zip with exactly these entries (name → content), written by Python's zipfile. */
function pythonZip(entries: Record<string, string | { zeros: number }>): string {
  const path = join(fresh(), 'x.zip');
  const script = `
import sys, json, zipfile
entries = json.loads(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], "w", compression=zipfile.ZIP_DEFLATED) as z:
    for name, content in entries.items():
        z.writestr(name, b"\\0" * content["zeros"] if isinstance(content, dict) else content.encode())`;
  execFileSync(SYSTEM_PYTHON, ['-c', script, path, JSON.stringify(entries)]);
  return path;
}

describe('unpacking a received zip', () => {
  it('unpacks an honest zip', async () => {
    const target = fresh();
    await unzipInto(pythonZip({ 'a.txt': 'A', 'sub/b.txt': 'B' }), target, { maxBytes: 2, maxFiles: 2 });
    expect(readFileSync(join(target, 'sub/b.txt'), 'utf8')).toBe('B');
  });

  it.each(['../escape.txt', 'sub/../../escape.txt', '/tmp/bc-absolute-escape.txt'])('refuses the entry %s and writes nothing outside', async (name) => {
    const parent = fresh();
    const target = join(parent, 'target');
    mkdirSync(target);
    await expect(unzipInto(pythonZip({ [name]: 'evil' }), target, { maxBytes: 100, maxFiles: 10 })).rejects.toThrow(
      /invalid relative path|absolute path|outside the target/,
    );
    expect(existsSync(join(parent, 'escape.txt'))).toBe(false);
    expect(existsSync('/tmp/bc-absolute-escape.txt')).toBe(false);
  });

  it('stops a zip bomb at the bytes the offer declared', async () => {
    const target = fresh();
    await expect(unzipInto(pythonZip({ 'bomb.bin': { zeros: 20_000_000 } }), target, { maxBytes: 1_000, maxFiles: 1 })).rejects.toBeInstanceOf(TooLargeError);
  });

  it('refuses more files than the offer declared', async () => {
    await expect(unzipInto(pythonZip({ a: '1', b: '2', c: '3' }), fresh(), { maxBytes: 100, maxFiles: 2 })).rejects.toBeInstanceOf(TooLargeError);
  });
});

describe('where a received file goes', () => {
  it('keeps only the last part of an offered name, and refuses names that are no name', () => {
    expect(safeName('../../etc/passwd')).toBe('passwd');
    expect(safeName('..\\..\\boot.ini')).toBe('boot.ini');
    for (const bad of ['..', '.', '/', 'a/..']) expect(() => safeName(bad)).toThrow(TransferRefused);
  });

  it('never overwrites an existing file unless an output path was given', async () => {
    const cwd = fresh();
    writeFileSync(join(cwd, 'x.txt'), 'mine');
    await expect(sinkFor({ file: { filename: 'x.txt', filesize: 1 } }, { cwd })).rejects.toThrow(/refusing to overwrite/);
    const { sink, destination } = await sinkFor({ file: { filename: 'x.txt', filesize: 1 } }, { cwd, outputFile: 'x.txt' });
    await sink.write(utf8('Y'));
    await sink.finish();
    expect(readFileSync(destination, 'utf8')).toBe('Y');
    expect(readdirSync(cwd)).toEqual(['x.txt']);
  });
});

describe('a sender that lies', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay({ transitPort: 0 });
  });
  afterAll(() => relay?.close());

  /** A hand-rolled sender: offers `offered` bytes, then sends `sent` bytes through the transit relay. */
  async function liar(code: string, offered: number, sent: number): Promise<void> {
    const wormhole = new Wormhole({ relay: relay.url, appid: FILE_TRANSFER_APPID, connector: nodeSocketConnector(), code });
    const { key } = await wormhole.verified;
    wormhole.send({ transit: transitMessage([parseTransitHelper(relay.transit!.hint)]) });
    wormhole.send({ offer: { file: { filename: 'lie.bin', filesize: offered } } });
    let theirs: unknown;
    for (;;) {
      const m = await wormhole.nextJson<{ transit?: unknown; answer?: unknown }>();
      if (m.transit) theirs = m.transit;
      if (m.answer) break;
    }
    const pipe = await connectTransit({
      role: 'sender',
      transitKey: deriveTransitKey(key),
      relays: relayHintsOf(theirs),
      connector: nodeTcpConnector(),
      randomBytes: cryptoRandomBytes,
    });
    await pipe.sendRecord(new Uint8Array(sent));
    await pipe.receiveRecord().catch(() => {});
    pipe.close();
    await wormhole.close('errory').catch(() => {});
  }

  it('more bytes than offered: the receiver fails typed and discards what it wrote', async () => {
    const code = `${40 + n}-guitarist-revenge`;
    const events: string[] = [];
    const sink: FileSink = {
      write: async (b) => void events.push(`write ${b.length}`),
      finish: async () => void events.push('finish'),
      abort: async () => void events.push('abort'),
    };
    const receiving = receive({
      relay: relay.url,
      connector: nodeSocketConnector(),
      code,
      transitRelays: [parseTransitHelper(relay.transit!.hint)],
      byteConnector: nodeTcpConnector(),
      accept: async () => sink,
    });
    await Promise.all([liar(code, 10, 5_000), expect(receiving).rejects.toMatchObject({ code: 'TRANSFER_FAILED', data: { reason: 'size' } })]);
    expect(events).toEqual(['abort']);
  });

  it('a cancel mid-transfer (AbortSignal) ends the sender typed; the receiver fails typed and discards', async () => {
    const code = `${60 + n}-guitarist-revenge`;
    const events: string[] = [];
    const sink: FileSink = {
      write: async () => void (events.at(-1) !== 'write' && events.push('write')),
      finish: async () => void events.push('finish'),
      abort: async () => void events.push('abort'),
    };
    const transitRelays = [parseTransitHelper(relay.transit!.hint)];
    const cancel = new AbortController();
    const chunk = new Uint8Array(64 * 1024);
    const sending = sendFile({
      relay: relay.url,
      connector: nodeSocketConnector(),
      code,
      signal: cancel.signal,
      offer: { file: { filename: 'big.bin', filesize: 100 * chunk.length } },
      source: async function* () {
        for (let i = 0; i < 100; i++) yield chunk;
      },
      transitRelays,
      byteConnector: nodeTcpConnector(),
      // Cancel once the first bytes went out: the rest must never be sent.
      onProgress: (done) => done > 0 && cancel.abort(new Error('user cancelled')),
    });
    const receiving = receive({
      relay: relay.url,
      connector: nodeSocketConnector(),
      code,
      transitRelays,
      byteConnector: nodeTcpConnector(),
      accept: async () => sink,
    });
    await Promise.all([
      expect(sending).rejects.toMatchObject({ code: 'ABORTED' }),
      expect(receiving).rejects.toMatchObject({ code: 'TRANSFER_FAILED', data: { reason: 'size' } }),
    ]);
    expect(events.at(-1)).toBe('abort');
    expect(events).not.toContain('finish');
  });
});
