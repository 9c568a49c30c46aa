/**
 * The one capability the mailbox client needs from its platform: a text-frame socket. Adapters:
 * `adapters/nodeSocket` (ws), `adapters/browserSocket` (the browser's WebSocket) and
 * `adapters/memoryNetwork` (in-process, with faults, for tests).
 * @module
 */

export interface SocketHandlers {
  onOpen(): void;
  onMessage(text: string): void;
  /** Called once, whether the socket failed to open, dropped, or was closed by either side. */
  onClose(info: { code?: number; reason?: string }): void;
}

export interface MailboxSocket {
  /** Send one text frame. Dropped silently if the socket is not open: the protocol layer resends. */
  send(text: string): void;
  close(): void;
}

/** Open a socket to `url`; report through `handlers`. Must not throw: report failure via `onClose`. */
export type SocketConnector = (url: string, handlers: SocketHandlers) => MailboxSocket;
