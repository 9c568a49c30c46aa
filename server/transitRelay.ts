/**
 * The transit relay (magic-wormhole-transit-relay's protocol, on its own TCP port): a client sends
 * `please relay <token> for side <side>\n` (or the old form without the side); two connections with
 * the same token and different sides are paired, each is told `ok\n`, and from then on the bytes of
 * one are the bytes of the other. The relay sees only sealed records: the token is derived from the
 * transit key, which it never has.
 *
 * Every bound a client can push on is in {@link TransitLimits}: the handshake line is at most
 * {@link MAX_HANDSHAKE_BYTES}, paired sockets are piped (Node's backpressure, so a slow reader slows
 * the writer instead of filling our memory), and handshakes, lonely waits and idle pairs time out.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { normaliseAddress } from './clientAddress.js';
import { silentLogger, type Logger } from './log.js';

/** The transit relay's bounds on connections and time; see {@link DEFAULT_TRANSIT_LIMITS}. */
export interface TransitLimits {
  /** Transit connections open at once, in total. */
  maxConnections: number;
  /** Transit connections open at once from one address. */
  maxConnectionsPerAddress: number;
  /** Connections waiting for their partner under one token (the real clients open one or two). */
  maxWaitingPerToken: number;
  /** A connection must send its whole handshake line within this. */
  handshakeTimeoutMs: number;
  /** A connection waits this long for its partner, then is closed. */
  lonelyTimeoutMs: number;
  /** A pair that moves no byte either way for this long is closed. */
  idleTimeoutMs: number;
}

/** The transit relay's default limits; `limits` in {@link TransitRelayOptions} overrides any of them. */
export const DEFAULT_TRANSIT_LIMITS: Readonly<TransitLimits> = Object.freeze({
  maxConnections: 1_000,
  maxConnectionsPerAddress: 64,
  maxWaitingPerToken: 4,
  handshakeTimeoutMs: 30_000,
  lonelyTimeoutMs: 5 * 60_000,
  idleTimeoutMs: 10 * 60_000,
});

/** The longest handshake line: `please relay <64> for side <16>\n`. */
export const MAX_HANDSHAKE_BYTES = 'please relay  for side \n'.length + 64 + 16;
const OLD_HANDSHAKE_BYTES = 'please relay \n'.length + 64;

/** What a handshake buffer holds so far. */
export type HandshakeParse = { state: 'waiting' } | { state: 'bad' } | { state: 'impatient' } | { state: 'done'; token: string; side: string | undefined };

/**
 * The transit relay's handshake, as transit_server.py reads it: the old or the new line, nothing after
 * it (a client must wait for `ok`), and "bad" as soon as the bytes can no longer become either.
 */
export function parseRelayHandshake(buffer: Uint8Array): HandshakeParse {
  const newline = buffer.indexOf(0x0a);
  if (newline === -1) return buffer.length >= MAX_HANDSHAKE_BYTES ? { state: 'bad' } : { state: 'waiting' };
  const line = new TextDecoder().decode(buffer.subarray(0, newline + 1));
  const m = /^please relay (\w{64})(?: for side (\w{16}))?\n$/.exec(line);
  if (!m || (m[2] === undefined && line.length !== OLD_HANDSHAKE_BYTES)) return { state: 'bad' };
  if (buffer.length > newline + 1) return { state: 'impatient' };
  return { state: 'done', token: m[1]!, side: m[2] };
}

/** A snapshot of the transit relay: open, waiting and paired connections, and refusals. */
export interface TransitStats {
  connections: number;
  waiting: number;
  paired: number;
  /** Closed by a limit or a bad handshake, by reason. */
  refusals: ReadonlyMap<string, number>;
}

interface Waiting {
  socket: Socket;
  side: string | undefined;
  token: string;
  timer: NodeJS.Timeout;
}

/** Pairs transit connections; attach sockets with {@link TransitRelayServer.accept}. */
export class TransitRelayServer {
  readonly #limits: TransitLimits;
  readonly #log: Logger;
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #perAddress = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  readonly #refusals = new Map<string, number>();
  #paired = 0;

  constructor(options: { limits?: Partial<TransitLimits>; log?: Logger } = {}) {
    this.#limits = { ...DEFAULT_TRANSIT_LIMITS, ...options.limits };
    this.#log = options.log ?? silentLogger;
  }

  get limits(): Readonly<TransitLimits> {
    return this.#limits;
  }

  /** Connections open, waiting for a partner, pairs made so far, and refusals by reason. */
  stats(): TransitStats {
    let waiting = 0;
    for (const list of this.#waiting.values()) waiting += list.length;
    return { connections: this.#sockets.size, waiting, paired: this.#paired, refusals: new Map(this.#refusals) };
  }

  #refuse(socket: Socket, reason: string, reply?: string): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1);
    this.#log('debug', 'transit-refused', { reason });
    if (reply !== undefined && socket.writable) socket.end(reply);
    else socket.end();
    // A peer that never reads must not keep the socket: drop it soon whatever it does.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /** Take a new connection from `address`. */
  accept(socket: Socket, address = normaliseAddress(socket.remoteAddress ?? '')): void {
    socket.on('error', (err) => this.#log('debug', 'transit-socket-error', { error: err.message }));
    if (this.#sockets.size >= this.#limits.maxConnections) return this.#refuse(socket, 'connections');
    const fromHere = this.#perAddress.get(address) ?? 0;
    if (fromHere >= this.#limits.maxConnectionsPerAddress) return this.#refuse(socket, 'connections-per-address');
    this.#perAddress.set(address, fromHere + 1);
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const n = (this.#perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, n);
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true);

    let buffer = new Uint8Array(0);
    let waiting: Waiting | undefined;
    const handshakeTimer = setTimeout(() => this.#refuse(socket, 'handshake-timeout', 'timeout\n'), this.#limits.handshakeTimeoutMs);
    handshakeTimer.unref();
    const onData = (data: Buffer) => {
      if (waiting) {
        // Bytes before `ok`: the real relay calls that impatience and hangs up.
        this.#forget(waiting);
        return this.#refuse(socket, 'impatient', 'impatient\n');
      }
      const joined = new Uint8Array(buffer.length + data.length);
      joined.set(buffer);
      joined.set(data, buffer.length);
      buffer = joined.length > MAX_HANDSHAKE_BYTES + 1 ? joined.subarray(0, MAX_HANDSHAKE_BYTES + 1) : joined;
      const parsed = parseRelayHandshake(buffer);
      if (parsed.state === 'waiting') return;
      clearTimeout(handshakeTimer);
      if (parsed.state === 'bad') return this.#refuse(socket, 'bad-handshake', 'bad handshake\n');
      if (parsed.state === 'impatient') return this.#refuse(socket, 'impatient', 'impatient\n');
      waiting = this.#arrive(socket, parsed.token, parsed.side);
    };
    socket.on('data', onData);
    socket.once('close', () => {
      clearTimeout(handshakeTimer);
      if (waiting) this.#forget(waiting);
    });
  }

  /** A handshake completed: pair with a waiting partner, or wait. Returns the wait, if any. */
  #arrive(socket: Socket, token: string, side: string | undefined): Waiting | undefined {
    const list = this.#waiting.get(token) ?? [];
    const partner = list.find((w) => w.side === undefined || side === undefined || w.side !== side);
    if (partner) {
      this.#waiting.delete(token);
      for (const w of list) {
        clearTimeout(w.timer);
        // Spare connections from the side that was chosen: not needed any more.
        if (w !== partner) this.#refuse(w.socket, 'redundant');
      }
      this.#pair(partner.socket, socket);
      return undefined;
    }
    if (list.length >= this.#limits.maxWaitingPerToken) {
      this.#refuse(socket, 'waiting-per-token');
      return undefined;
    }
    const timer = setTimeout(() => {
      this.#forget(entry);
      this.#refuse(socket, 'lonely');
    }, this.#limits.lonelyTimeoutMs);
    timer.unref();
    const entry: Waiting = { socket, side, token, timer };
    list.push(entry);
    this.#waiting.set(token, list);
    return entry;
  }

  #forget(entry: Waiting): void {
    clearTimeout(entry.timer);
    const list = this.#waiting.get(entry.token);
    if (!list) return;
    const rest = list.filter((w) => w !== entry);
    if (rest.length === 0) this.#waiting.delete(entry.token);
    else this.#waiting.set(entry.token, rest);
  }

  /** Tell both `ok` and join them: from now on each one's bytes go to the other, with backpressure. */
  #pair(a: Socket, b: Socket): void {
    this.#paired++;
    // Our handshake readers go; pipe() takes over in the same tick, so no byte falls between them.
    for (const s of [a, b]) s.removeAllListeners('data');
    a.write('ok\n');
    b.write('ok\n');
    a.pipe(b);
    b.pipe(a);
    const hangUp = () => {
      a.end();
      b.end();
      setTimeout(() => {
        a.destroy();
        b.destroy();
      }, 5_000).unref();
    };
    for (const s of [a, b]) {
      s.setTimeout(this.#limits.idleTimeoutMs, () => {
        this.#refusals.set('idle', (this.#refusals.get('idle') ?? 0) + 1);
        a.destroy();
        b.destroy();
      });
      s.once('close', hangUp);
      s.once('end', hangUp);
    }
    this.#log('debug', 'transit-paired', {});
  }

  /** Close every connection. */
  closeAll(): void {
    for (const list of this.#waiting.values()) for (const w of list) clearTimeout(w.timer);
    this.#waiting.clear();
    for (const s of this.#sockets) s.destroy();
  }
}

/** Options of {@link startTransitRelay}: where to listen, limits and logger. */
export interface TransitRelayOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  limits?: Partial<TransitLimits>;
  log?: Logger;
}

/** A running transit relay, from {@link startTransitRelay}: where it listens, and how to stop it. */
export interface TransitRelay {
  readonly port: number;
  readonly host: string;
  /** `tcp:host:port`, as `--transit-helper` takes it. */
  readonly hint: string;
  readonly server: TransitRelayServer;
  /** Stop listening and drop every connection; resolves once the listener is closed. */
  close(): Promise<void>;
}

/** Start a transit relay on its own TCP port. */
export async function startTransitRelay(options: TransitRelayOptions = {}): Promise<TransitRelay> {
  const relay = new TransitRelayServer({ limits: options.limits, log: options.log });
  const server: Server = createServer((socket) => relay.accept(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  (options.log ?? silentLogger)('info', 'transit-listening', { host: address.address, port: address.port });
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    host: address.address,
    hint: `tcp:${host}:${address.port}`,
    server: relay,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        relay.closeAll();
      });
      return closing;
    },
  };
}
