/**
 * Node adapter for {@link SocketConnector} on the `ws` package.
 * @module
 */
import WebSocket from 'ws';
import type { SocketConnector } from '../effects/socket.js';
import { closeOnce, failedSocket } from './closeOnce.js';

/** Options of the Node socket connector. */
export interface NodeSocketOptions {
  /** Largest frame accepted from the server (bytes). */
  maxPayload?: number;
  /** Milliseconds to wait for the TCP + WebSocket handshake. */
  handshakeTimeoutMs?: number;
}

/** A `SocketConnector` on `ws`, for Node; a refused upgrade reports its HTTP status. */
export function nodeSocketConnector(options: NodeSocketOptions = {}): SocketConnector {
  return (url, handlers) => {
    const closing = closeOnce(handlers);
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        maxPayload: options.maxPayload ?? 4 * 1024 * 1024,
        handshakeTimeout: options.handshakeTimeoutMs ?? 15_000,
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

/** A `Retry-After` header in seconds (the HTTP-date form is rare on 429/503 and is ignored). */
function retryAfter(header: string | undefined): number | undefined {
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number(header) * 1000;
}
