/**
 * Browser adapter for {@link SocketConnector} on the platform `WebSocket` (also Node ≥ 22's global).
 * @module
 */
import type { SocketConnector } from '../effects/socket.js';
import { closeOnce, failedSocket } from './closeOnce.js';

export function browserSocketConnector(WebSocketImpl: typeof WebSocket = globalThis.WebSocket): SocketConnector {
  return (url, handlers) => {
    const closing = closeOnce(handlers);
    let ws: WebSocket;
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
