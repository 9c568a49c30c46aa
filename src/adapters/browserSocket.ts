/**
 * Browser adapter for {@link SocketConnector} on the platform `WebSocket` (also Node ≥ 22's global).
 * @module
 */
import type { SocketConnector } from '../effects/socket.js';

export function browserSocketConnector(WebSocketImpl: typeof WebSocket = globalThis.WebSocket): SocketConnector {
  return (url, handlers) => {
    let closed = false;
    const finish = (info: { code?: number; reason?: string }) => {
      if (closed) return;
      closed = true;
      handlers.onClose(info);
    };
    let ws: WebSocket;
    try {
      ws = new WebSocketImpl(url);
    } catch (err) {
      queueMicrotask(() => finish({ reason: (err as Error).message }));
      return { send() {}, close() {} };
    }
    ws.onopen = () => handlers.onOpen();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') handlers.onMessage(ev.data);
    };
    ws.onerror = () => finish({ reason: 'websocket error' });
    ws.onclose = (ev) => finish({ code: ev.code, reason: ev.reason });
    return {
      send(text) {
        if (ws.readyState === WebSocketImpl.OPEN) ws.send(text);
      },
      close() {
        closed = true;
        ws.close(1000);
      },
    };
  };
}
