/**
 * Node adapter for {@link SocketConnector}: on the `ws` package when it is installed, else on the
 * runtime's global `WebSocket` (Node ≥ 22), else it refuses, typed, saying what to install. `ws` is an
 * optional peer dependency, loaded only here and only when a connector is made, so apps that never
 * open a Node socket (browsers) do not install it.
 * @module
 */
import { createRequire } from 'node:module';
import type WsWebSocket from 'ws';
import type { CloseInfo, SocketConnector } from '../effects/socket.js';
import { InternalError } from '../errors.js';
import type { WebSocketConstructor, WebSocketLike } from './browserSocket.js';
import { closeOnce, failedSocket } from './closeOnce.js';

/** Options of the Node socket connector. */
export interface NodeSocketOptions {
  /** Largest frame accepted from the server (bytes). */
  maxPayload?: number;
  /** Milliseconds to wait for the TCP + WebSocket handshake. */
  handshakeTimeoutMs?: number;
  /**
   * Which WebSocket to use: `'ws'` (the package; an error if it is not installed), `'global'` (the
   * runtime's `WebSocket`; an error if there is none) or `'auto'` (the default: `ws` if installed,
   * else the global). `ws` sees more: the HTTP status and `Retry-After` of a refused upgrade, which
   * tell a relay without `/backchannel/v2` from an unreachable one at once (with the global, as in
   * browsers, the app finds that out by asking twice).
   */
  webSocket?: 'auto' | 'ws' | 'global';
}

const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;
const DEFAULT_HANDSHAKE_MS = 15_000;

/**
 * A `SocketConnector` for Node. Throws an {@link InternalError} (`data.missing: 'ws'`) when neither
 * `ws` nor a global `WebSocket` is there (Node 20 without `ws`): install it, `npm i ws`.
 */
export function nodeSocketConnector(options: NodeSocketOptions = {}): SocketConnector {
  const choice = options.webSocket ?? 'auto';
  const ws = choice === 'global' ? undefined : loadWs();
  if (ws) return wsConnector(ws, options);
  const global = choice === 'ws' ? undefined : (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return globalConnector(global, options);
  throw new InternalError(
    choice === 'global'
      ? 'nodeSocketConnector({ webSocket: "global" }): this runtime has no global WebSocket (Node ≥ 22 has one).'
      : 'nodeSocketConnector needs the ws package on this Node (it has no global WebSocket): install it, npm i ws',
    { missing: choice === 'global' ? 'WebSocket' : 'ws', install: 'npm i ws' },
  );
}

/** The `ws` package, or undefined if it is not installed (any other failure to load it is thrown). */
function loadWs(): typeof WsWebSocket | undefined {
  try {
    return createRequire(import.meta.url)('ws') as typeof WsWebSocket;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'MODULE_NOT_FOUND' && /'ws'/.test(e.message ?? '')) return undefined;
    throw err;
  }
}

/** On `ws`: a refused upgrade reports its HTTP status and `Retry-After`. */
function wsConnector(WebSocket: typeof WsWebSocket, options: NodeSocketOptions): SocketConnector {
  return (url, handlers) => {
    const closing = closeOnce(handlers);
    let ws: WsWebSocket;
    try {
      ws = new WebSocket(url, {
        maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS,
        perMessageDeflate: false,
      });
    } catch (err) {
      return failedSocket(closing, err);
    }
    ws.on('open', () => handlers.onOpen());
    ws.on('message', (data, isBinary) => {
      if (!isBinary) handlers.onMessage((data as Buffer).toString('utf8'));
    });
    // The server refused the upgrade (e.g. 404: it has no such endpoint): report its status, which
    // tells "this relay does not serve that" apart from a network error. Handling the event means
    // ws leaves the response to us: end it.
    ws.on('unexpected-response', (req, res) => {
      const retryAfterMs = retryAfter(res.headers['retry-after']);
      closing.report({
        reason: `the server answered HTTP ${res.statusCode} instead of a WebSocket`,
        status: res.statusCode,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
      res.resume();
      req.destroy();
    });
    ws.on('error', (err) => closing.report({ reason: err.message }));
    ws.on('close', (code, reason) => closing.report({ code, reason: reason.toString() }));
    return {
      send(text) {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      close() {
        closing.silence();
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000);
      },
    };
  };
}

/**
 * On the runtime's `WebSocket` (WHATWG): text frames, close codes, the handshake timeout and the frame
 * limit as with `ws`; a refused upgrade looks like an unreachable host (no status), as in browsers.
 */
function globalConnector(WebSocket: WebSocketConstructor, options: NodeSocketOptions): SocketConnector {
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const handshakeMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS;
  return (url, handlers) => {
    const closing = closeOnce(handlers);
    let ws: WebSocketLike;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      return failedSocket(closing, err);
    }
    let handshake: ReturnType<typeof setTimeout> | undefined;
    const report = (info: CloseInfo) => {
      clearTimeout(handshake);
      closing.report(info);
    };
    // The WHATWG close() takes only 1000 or 3000–4999: what went wrong is in the reported info.
    const fail = (info: CloseInfo) => (report(info), ws.close(1000));
    handshake = setTimeout(() => fail({ reason: `no WebSocket handshake within ${handshakeMs} ms` }), handshakeMs);
    ws.onopen = () => {
      clearTimeout(handshake);
      handlers.onOpen();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      // The limit is in UTF-8 bytes, at most three per UTF-16 unit: count them only when it matters.
      if (ev.data.length * 3 > maxPayload && Buffer.byteLength(ev.data) > maxPayload) return fail({ code: 1009, reason: 'Max payload size exceeded' });
      handlers.onMessage(ev.data);
    };
    ws.onerror = () => report({ reason: 'websocket error' });
    ws.onclose = (ev) => report({ code: ev.code, reason: ev.reason });
    return {
      send(text) {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      close() {
        clearTimeout(handshake);
        closing.silence();
        ws.close(1000);
      },
    };
  };
}

/** A `Retry-After` header in seconds (the HTTP-date form is rare on 429/503 and is ignored). */
function retryAfter(header: string | undefined): number | undefined {
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number(header) * 1000;
}
