/**
 * Socket adapters report a close exactly once, whatever mix of error and close events the platform
 * fires, and not at all after the owner closed the socket itself.
 * @module
 */
import type { CloseInfo, SocketHandlers } from '../effects/socket.js';

export interface CloseReporter {
  report(info: CloseInfo): void;
  /** The owner closed the socket: stay quiet from now on. */
  silence(): void;
}

export function closeOnce(handlers: SocketHandlers): CloseReporter {
  let done = false;
  return {
    report(info) {
      if (done) return;
      done = true;
      handlers.onClose(info);
    },
    silence() {
      done = true;
    },
  };
}

/** What an adapter returns when it could not even create its socket: the failure is reported async. */
export function failedSocket(reporter: CloseReporter, err: unknown): { send(): void; close(): void } {
  queueMicrotask(() => reporter.report({ reason: err instanceof Error ? err.message : String(err) }));
  return { send() {}, close() {} };
}
