/**
 * Structured logs: one JSON object per line. Callers pass only metadata (appid, nameplate, mailbox,
 * phase, sizes); message bodies, codes and keys never reach a logger.
 * @module
 */
/** How much a log line matters; a logger drops lines below its minimum. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where the relay's log lines go: a level, an event name, and fields (never message bodies, codes or keys). */
export type Logger = (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;

/** Logs nothing: the default inside tests and libraries. */
export const silentLogger: Logger = () => {};

/** JSON lines on a writable stream (stderr by default), at or above `minLevel`. */
export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l), minLevel: LogLevel = 'info'): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return (level, event, fields = {}) => {
    if (order[level] < order[minLevel]) return;
    write(JSON.stringify({ t: new Date().toISOString(), level, event, ...fields }) + '\n');
  };
}
