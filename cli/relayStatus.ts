/**
 * What `backchannel relay` tells its operator: where it keeps its data, and why it could not listen
 * (in words, not a stack trace).
 * @module
 */
import { resolve } from 'node:path';
import { withoutPassword } from '../server/redact.js';

/** Where the relay's state lives, for its start-up lines. A Redis password is never printed. */
export function describeStorage(options: { memory: boolean; data: string; redis?: string | undefined }): string {
  if (options.redis !== undefined) return `pairing state and depot in Redis at ${withoutPassword(options.redis)}`;
  if (options.memory) return 'in memory: pairing state and depot are lost when the relay stops';
  return `depot and pairing state in ${resolve(options.data)}`;
}

/** A listen error (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`) as one line naming the flag to change; else undefined. */
export function listenFailure(error: unknown, host: string, port: number, flag = '--port'): string | undefined {
  const e = error as { code?: unknown; syscall?: unknown; address?: unknown; port?: unknown };
  if (e?.syscall !== 'listen') return undefined;
  const at = `port ${typeof e.port === 'number' ? e.port : port} on ${typeof e.address === 'string' ? e.address : host}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return `${at} is already in use — pick another with ${flag}`;
    case 'EACCES':
      return `not allowed to listen on ${at} (ports below 1024 need privileges) — pick another with ${flag}`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${host}: no such address on this machine — pick another with --host`;
    default:
      return undefined;
  }
}
