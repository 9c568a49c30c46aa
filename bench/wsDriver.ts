/**
 * The independent load driver: its own process, its own minimal WebSocket client on `node:net` (no
 * `ws`, none of our client code, no crypto), so the same bytes go to our relay and to the Python
 * mailbox server, and the driver's own cost stays small next to the server's.
 *
 * `node dist/bench/wsDriver.js '<json>'` prints one JSON line:
 * - `{"mode":"pairings",url,otherUrl?,concurrency,warmupMs,durationMs,pids}` → pairings completed in the
 *   window, their latency (p50/p99), and each server pid's CPU (utime+stime from /proc) over the window;
 * - `{"mode":"idle",url,count,pid}` → the server's RSS before and after `count` idle sockets, each bound.
 *
 * A pairing is what a magic-wormhole client does, frame for frame: A binds, allocates, claims, opens and
 * adds `pake`; B binds, claims the nameplate, opens and adds `pake`; each, on the other's `pake`, adds
 * `version` and releases; on the other's `version` adds phase `0`; on the other's `0` closes happy.
 * Done when both got `closed`. Bodies are random hex of the real sizes (the servers never read them).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

type Frame = Record<string, unknown>;

/** A WebSocket client connection, just enough of RFC 6455 for a text protocol. */
class RawWs {
  readonly #socket: Socket;
  #buffer: Buffer | undefined;
  #open = false;
  #gone = false;
  onText: (text: string) => void = () => {};
  onGone: (reason: string) => void = () => {};

  constructor(url: URL) {
    this.#socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    this.#socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.#socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.#socket.on('data', (chunk: Buffer) => this.#data(chunk));
    this.#socket.on('error', (err) => this.#end(err.message));
    this.#socket.on('close', () => this.#end('socket closed'));
  }

  /** One masked text frame. The masking key is zero: legal framing, and it spares the driver the XOR. */
  send(text: string): void {
    if (this.#gone) return;
    const payload = Buffer.from(text);
    const n = payload.length;
    const head = n < 126 ? 6 : n < 65536 ? 8 : 14;
    const frame = Buffer.alloc(head + n);
    frame[0] = 0x81;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(n), 2);
    }
    payload.copy(frame, head);
    this.#socket.write(frame);
  }

  /** A close frame (1000), then the TCP end; the server's close frame is not awaited. */
  close(): void {
    if (this.#gone) return;
    this.#socket.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    this.#gone = true;
  }

  destroy(): void {
    this.#gone = true;
    this.#socket.destroy();
  }

  #end(reason: string): void {
    const was = this.#gone;
    this.#gone = true;
    this.#socket.destroy();
    if (!was) this.onGone(reason);
  }

  #data(chunk: Buffer): void {
    let buf = this.#buffer ? Buffer.concat([this.#buffer, chunk]) : chunk;
    if (!this.#open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this.#buffer = buf;
        return;
      }
      const status = buf.subarray(0, buf.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.1 101/.test(status)) return this.#end(`upgrade refused: ${status}`);
      this.#open = true;
      buf = buf.subarray(end + 4);
    }
    while (buf.length >= 2) {
      const opcode = buf[0]! & 0x0f;
      let n = buf[1]! & 0x7f;
      let at = 2;
      if (n === 126) {
        if (buf.length < 4) break;
        n = buf.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (buf.length < 10) break;
        n = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf.length < at + n) break;
      const payload = buf.subarray(at, at + n);
      buf = buf.subarray(at + n);
      if (opcode === 1) this.onText(payload.toString());
      else if (opcode === 8) return this.#end('closed by the server');
      else if (opcode === 9) this.#control(0x8a, payload);
    }
    this.#buffer = buf.length > 0 ? buf : undefined;
  }

  #control(opcode: number, payload: Buffer): void {
    this.#socket.write(Buffer.concat([Buffer.from([opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]));
  }
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const id = () => hex(2);

/** One pairing through `url` (the inviter) and `otherUrl` (the invitee); resolves when both are closed. */
function pairOnce(url: URL, otherUrl: URL, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sockets: RawWs[] = [];
    let closedSides = 0;
    let nameplate: string | undefined;
    let claimB: (() => void) | undefined;
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    function fail(reason: string) {
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      reject(new Error(reason));
    }
    function side(at: URL, inviter: boolean) {
      const ws = new RawWs(at);
      sockets.push(ws);
      const me = hex(5);
      let mailbox: string | undefined;
      let done = false;
      const send = (frame: Frame) => ws.send(JSON.stringify({ ...frame, id: id() }));
      const claim = () => send({ type: 'claim', nameplate });
      ws.onGone = (reason) => {
        if (!done) fail(reason);
      };
      ws.onText = (text) => {
        const m = JSON.parse(text) as Frame;
        switch (m.type) {
          case 'welcome':
            send({ type: 'bind', appid: 'bench.example/pairing', side: me, client_version: ['bench', '1'] });
            if (inviter) send({ type: 'allocate' });
            else if (nameplate !== undefined) claim();
            else claimB = claim;
            return;
          case 'allocated':
            nameplate = m.nameplate as string;
            claim();
            claimB?.();
            return;
          case 'claimed':
            mailbox = m.mailbox as string;
            send({ type: 'open', mailbox });
            send({ type: 'add', phase: 'pake', body: hex(45) });
            return;
          case 'message':
            if (m.side === me) return;
            if (m.phase === 'pake') {
              send({ type: 'add', phase: 'version', body: hex(80) });
              send({ type: 'release', nameplate });
            } else if (m.phase === 'version') send({ type: 'add', phase: '0', body: hex(90) });
            else if (m.phase === '0') send({ type: 'close', mailbox, mood: 'happy' });
            return;
          case 'closed':
            done = true;
            ws.close();
            if (++closedSides === 2) {
              clearTimeout(timer);
              resolve();
            }
            return;
          case 'error':
            return fail(`error frame: ${text}`);
        }
      };
    }
    side(url, true);
    side(otherUrl, false);
  });
}

/** utime + stime of a process, in milliseconds. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here; 100 ticks/s.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

async function pairings(o: { url: string; otherUrl?: string; concurrency: number; warmupMs: number; durationMs: number; pids: number[] }) {
  const url = new URL(o.url);
  const other = new URL(o.otherUrl ?? o.url);
  const start = performance.now();
  const windowStart = start + o.warmupMs;
  const windowEnd = windowStart + o.durationMs;
  let cpuStart: number[] | undefined;
  let done = 0;
  let failed = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  const markStart = setTimeout(() => (cpuStart = o.pids.map(cpuMs)), o.warmupMs);
  let cpuEnd: number[] = [];
  const markEnd = setTimeout(() => (cpuEnd = o.pids.map(cpuMs)), o.warmupMs + o.durationMs);
  const worker = async () => {
    while (performance.now() < windowEnd) {
      const t0 = performance.now();
      try {
        await pairOnce(url, other, 30_000);
        const t1 = performance.now();
        if (t1 >= windowStart && t1 < windowEnd) {
          done++;
          latencies.push(t1 - t0);
        }
      } catch (err) {
        failed++;
        if (failures.length < 3) failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  clearTimeout(markStart);
  clearTimeout(markEnd);
  const seconds = o.durationMs / 1000;
  latencies.sort((a, b) => a - b);
  return {
    done,
    failed,
    failures,
    seconds,
    perSecond: done / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    cpuMs: o.pids.map((pid, i) => (cpuEnd[i] ?? cpuMs(pid)) - (cpuStart?.[i] ?? 0)),
  };
}

/** Open one connection, bind it (as a client waiting for its peer would be), resolve on the bind's ack. */
function openIdle(url: URL): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const ws = new RawWs(url);
    ws.onGone = (reason) => reject(new Error(reason));
    ws.onText = (text) => {
      const type = (JSON.parse(text) as Frame).type;
      if (type === 'welcome') ws.send(JSON.stringify({ type: 'bind', appid: 'bench.example/idle', side: hex(5), client_version: ['bench', '1'], id: id() }));
      else if (type === 'ack') resolve(ws);
    };
  });
}

async function openMany(url: URL, count: number, inFlight = 64): Promise<RawWs[]> {
  const out: RawWs[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        next++;
        out.push(await openIdle(url));
      }
    }),
  );
  return out;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idle(o: { url: string; count: number; pid: number }) {
  const url = new URL(o.url);
  // Warm up (JIT, buffers) with a few hundred connections, then take the baseline.
  for (const ws of await openMany(url, 300)) ws.close();
  await settle(1500);
  const before = rssBytes(o.pid);
  const t0 = performance.now();
  const held = await openMany(url, o.count);
  const openSeconds = (performance.now() - t0) / 1000;
  // Let the server finish what the burst left (GC, buffers) before reading its RSS.
  await settle(3000);
  const after = rssBytes(o.pid);
  for (const ws of held) ws.destroy();
  return { count: held.length, before, after, perSocketBytes: (after - before) / held.length, openSeconds };
}

const options = JSON.parse(process.argv[2] ?? '{}') as { mode: string } & Parameters<typeof idle>[0] & Parameters<typeof pairings>[0];
const result = options.mode === 'idle' ? await idle(options) : await pairings(options);
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
