/**
 * Where a file for a contact who is away waits: sealed in the relay's depot when it is small enough,
 * else on this device until the contact's device is back (`depot/depotFiles.ts`). Pure.
 * @module
 */
import type { FileRoute } from '../files/session.js';

/**
 * Files up to this size wait for an away contact on the relay (2 MiB): an eighth of the relay's default
 * per-topic quota (16 MiB, which base64 and the contact's changes share), so changes still fit beside one.
 */
export const DEFAULT_RELAY_FILE_BYTES = 2 * 1024 * 1024;

/** Where a file of `size` bytes waits for a contact who is away: on the relay up to `limit`, else on this device. */
export function fileRoute(size: number, limit: number = DEFAULT_RELAY_FILE_BYTES): FileRoute {
  return size <= limit ? 'relay' : 'device';
}
