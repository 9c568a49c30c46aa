/** A bare mailbox-protocol client over `ws`, for poking servers with exact frames. */
import WebSocket from 'ws';

export interface RawClient {
  frames: Record<string, unknown>[];
  send(frame: unknown): void;
  sendText(text: string): void;
  /** Resolves with the first received frame (from now on or already seen) matching `predicate`. */
  next(predicate: (f: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): void;
  closed: Promise<{ code: number; reason: string }>;
}

/** `headers`: extra request headers, e.g. `X-Forwarded-For` to pose as a client behind a proxy. */
export async function rawClient(url: string, options: { headers?: Record<string, string> } = {}): Promise<RawClient> {
  const ws = new WebSocket(url, { headers: options.headers });
  const frames: Record<string, unknown>[] = [];
  const waiters: { predicate: (f: Record<string, unknown>) => boolean; resolve: (f: Record<string, unknown>) => void }[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Record<string, unknown>;
    frames.push(frame);
    for (const w of [...waiters]) {
      if (w.predicate(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    frames,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendText: (text) => ws.send(text),
    next(predicate, timeoutMs = 5_000) {
      const seen = frames.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms; saw ${JSON.stringify(frames)}`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (f) => {
            clearTimeout(timer);
            resolve(f);
          },
        });
      });
    },
    close: () => ws.close(),
    closed,
  };
}
