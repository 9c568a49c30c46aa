/**
 * Structured logs: one JSON object per line. Callers pass only metadata (appid, nameplate, mailbox,
 * phase, sizes); message bodies, codes and keys never reach a logger.
 * @module
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
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
