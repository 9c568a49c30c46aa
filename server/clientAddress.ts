/**
 * Who a request comes from, for per-address limits. Behind a reverse proxy every socket comes from the
 * proxy, so `X-Forwarded-For` names the client — but anyone can send that header, so it is believed
 * only from the proxies the operator listed (`--trust-proxy`).
 * @module
 */
import type { IncomingMessage } from 'node:http';

/** `::ffff:127.0.0.1` → `127.0.0.1`: one spelling per IPv4 address. */
export function normaliseAddress(address: string): string {
  const a = address.trim().toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * The client's address: the socket's, unless the socket is a trusted proxy; then the right-most
 * address in `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it
 * saw, so entries left of an untrusted one may be forged).
 */
export function clientAddress(req: IncomingMessage, trusted: ReadonlySet<string>): string {
  const socket = normaliseAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trusted.has(socket)) return socket;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map(normaliseAddress)
    .filter((h) => h.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  return hops[0] ?? socket;
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}
