/**
 * A byte stream to a host and port (TCP in Node): what the transit protocol runs on. Injected like the
 * mailbox socket, so the transit client stays isomorphic; `@backchannel/sdk/adapters/node` has
 * `nodeTcpConnector`.
 * @module
 */

/** A connected, ordered, two-way byte stream (a TCP socket in Node), with backpressure on writes. */
export interface ByteStream {
  /** Resolves once the bytes are handed on and the outgoing buffer is under its mark: backpressure. */
  write(bytes: Uint8Array): Promise<void>;
  /** The next chunk received, or `undefined` once the peer closed. Rejects if the stream failed. */
  read(): Promise<Uint8Array | undefined>;
  /** Close (after what was written is flushed); pending reads end with `undefined`. Idempotent. */
  close(): void;
}

/** Where to connect a {@link ByteStream}: a host name or IP address, and a TCP port. */
export interface ByteStreamAddress {
  host: string;
  port: number;
}

/** Open a stream; rejects when the connection cannot be made or `signal` aborts first. */
export type ByteStreamConnector = (address: ByteStreamAddress, signal?: AbortSignal) => Promise<ByteStream>;
