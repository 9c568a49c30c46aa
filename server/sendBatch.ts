/**
 * Frames for one socket leave together: every frame the relay sends to a socket during one turn of the
 * event loop goes out in one write (one `writev` syscall) instead of one each. Under load a socket gets
 * several frames per turn (an `ack` and the `message` it caused, or the frames of several peers), and one
 * syscall per frame was the relay's biggest cost (issue #11's profile).
 * @module
 */

/** What batching needs of the socket under a WebSocket: a Node `net.Socket` (or any stream.Writable). */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Returns `beforeSend`, to call before each send on `socket`: the first call in a turn corks the socket
 * and schedules the uncork for when the turn's I/O callbacks are done (`setImmediate`), which writes
 * everything queued meanwhile at once. Ending or destroying the socket flushes or drops it as usual.
 */
export function batchSends(socket: Corkable): () => void {
  let corked = false;
  const flush = () => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(flush);
  };
}
