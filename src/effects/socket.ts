/**
 * The one capability the mailbox client needs from its platform: a text-frame socket. Adapters:
 * `adapters/nodeSocket` (ws), `adapters/browserSocket` (the browser's WebSocket) and
 * `adapters/memoryNetwork` (in-process, with faults, for tests).
 * @module
 */

/** What a `SocketConnector` reports: open, each text frame, and the close. */
export interface SocketHandlers {
  /** Called once the socket is open and frames can be sent. */
  onOpen(): void;
  /** Called with each text frame the server sent, in order. */
  onMessage(text: string): void;
  /** Called once, whether the socket failed to open, dropped, or was closed by either side. */
  onClose(info: CloseInfo): void;
}

/** How a socket closed: the close frame's code and reason, or the HTTP status of a refused upgrade. */
export interface CloseInfo {
  /** The WebSocket close code, when there was a close frame. */
  code?: number;
  reason?: string;
  /**
   * The HTTP status when the server answered the upgrade with something other than 101 (e.g. 404: no
   * such endpoint). Only adapters that can see it set it (Node's `ws`); a browser's WebSocket reports
   * a refused upgrade exactly like an unreachable host.
   */
  status?: number;
  /** With a refused upgrade: how long the server asked us to wait (its `Retry-After`), when it said. */
  retryAfterMs?: number;
}

/** An open socket to the mailbox server, as a `SocketConnector` returns it: send text frames, close. */
export interface MailboxSocket {
  /** Send one text frame. Dropped silently if the socket is not open: the protocol layer resends. */
  send(text: string): void;
  /** Close the socket; `onClose` follows. */
  close(): void;
}

/** Open a socket to `url`; report through `handlers`. Must not throw: report failure via `onClose`. */
export type SocketConnector = (url: string, handlers: SocketHandlers) => MailboxSocket;
