/**
 * {@link ByteStreamConnector} over node:net: TCP with backpressure both ways. Reads are pulled: the
 * socket is paused while more than `highWaterMark` bytes wait unread, so a fast peer cannot fill our
 * memory.
 * @module
 */
import { connect, type Socket } from 'node:net';
import type { ByteStream, ByteStreamConnector } from '../effects/byteStream.js';
import { AbortedError, ConnectionLostError } from '../errors.js';

/** Options of {@link nodeTcpConnector}: read buffering and the connect timeout. */
export interface NodeTcpOptions {
  /** Unread bytes held before the socket is paused (default 1 MiB). */
  highWaterMark?: number;
  /** Connecting may take this long (default 20 s). */
  connectTimeoutMs?: number;
}

function streamOf(socket: Socket, highWaterMark: number): ByteStream {
  const chunks: Uint8Array[] = [];
  let held = 0;
  let ended = false;
  let failure: Error | undefined;
  let waiter: { resolve: (c: Uint8Array | undefined) => void; reject: (e: Error) => void } | undefined;
  const wake = () => {
    if (!waiter) return;
    const w = waiter;
    if (chunks.length > 0) {
      waiter = undefined;
      const chunk = chunks.shift()!;
      held -= chunk.length;
      if (held <= highWaterMark) socket.resume();
      w.resolve(chunk);
    } else if (failure) {
      waiter = undefined;
      w.reject(failure);
    } else if (ended) {
      waiter = undefined;
      w.resolve(undefined);
    }
  };
  socket.on('data', (data: Buffer) => {
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.length));
    held += data.length;
    if (held > highWaterMark) socket.pause();
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', (err) => {
    failure = new ConnectionLostError(`transit connection failed: ${err.message}`);
    wake();
  });
  return {
    write: (bytes) =>
      new Promise((resolve, reject) => {
        if (socket.destroyed || !socket.writable) return reject(failure ?? new ConnectionLostError('transit connection closed'));
        const more = socket.write(bytes, (err) => err && reject(new ConnectionLostError(`transit write failed: ${err.message}`)));
        if (more) resolve();
        else socket.once('drain', () => resolve());
      }),
    read: () =>
      new Promise((resolve, reject) => {
        if (waiter) return reject(new Error('read() already pending'));
        waiter = { resolve, reject };
        wake();
      }),
    close: () => {
      // Flush what was written, then give the peer a moment to close its side before we drop it.
      socket.end();
      setTimeout(() => socket.destroy(), 10_000).unref();
    },
  };
}

/** Connect with node:net. */
export function nodeTcpConnector(options: NodeTcpOptions = {}): ByteStreamConnector {
  const highWaterMark = options.highWaterMark ?? 1024 * 1024;
  const connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
  return ({ host, port }, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError(undefined, signal.reason));
      const socket = connect({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new ConnectionLostError(`connecting to ${host}:${port} timed out`)), connectTimeoutMs);
      const onAbort = () => fail(new AbortedError(undefined, signal?.reason));
      const fail = (err: Error) => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error) => fail(new ConnectionLostError(`cannot connect to ${host}:${port}: ${err.message}`));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', () => {
        cleanup();
        const stream = streamOf(socket, highWaterMark);
        resolve(stream);
      });
    });
}
