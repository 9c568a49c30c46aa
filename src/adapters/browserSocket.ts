/**
 * Browser adapter for {@link SocketConnector} on the platform `WebSocket` (also Node ≥ 22's global).
 * @module
 */
import type { SocketConnector } from '../effects/socket.js';
import type { RtcHandler } from '../effects/rtc.js';
import { closeOnce, failedSocket } from './closeOnce.js';

/** The part of the W3C `WebSocket` used here, structurally, so the declarations need no DOM lib. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: RtcHandler<unknown> | null;
  onmessage: RtcHandler<{ data: unknown }> | null;
  onerror: RtcHandler<unknown> | null;
  onclose: RtcHandler<{ code: number; reason: string }> | null;
  /** Send one text frame. */
  send(text: string): void;
  /** Start the closing handshake, with a WebSocket close code. */
  close(code?: number): void;
}

/** `WebSocket` itself: the platform's global (browsers, Node ≥ 22) or a compatible class. */
export interface WebSocketConstructor {
  new (url: string): WebSocketLike;
  readonly OPEN: number;
}

/** A `SocketConnector` on the platform's `WebSocket` (or the constructor given). */
export function browserSocketConnector(WebSocketImpl: WebSocketConstructor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket!): SocketConnector {
  return (url, handlers) => {
    const closing = closeOnce(handlers);
    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(url);
    } catch (err) {
      return failedSocket(closing, err);
    }
    ws.onopen = () => handlers.onOpen();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') handlers.onMessage(ev.data);
    };
    ws.onerror = () => closing.report({ reason: 'websocket error' });
    ws.onclose = (ev) => closing.report({ code: ev.code, reason: ev.reason });
    return {
      send(text) {
        if (ws.readyState === WebSocketImpl.OPEN) ws.send(text);
      },
      close() {
        closing.silence();
        ws.close(1000);
      },
    };
  };
}
