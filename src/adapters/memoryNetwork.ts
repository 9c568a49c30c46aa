/**
 * An in-process network between mailbox clients and a mailbox server, for unit and property tests.
 * Every frame is a scheduled delivery; in `manual` mode the test decides when each one runs and can
 * cut connections between any two, to reproduce drops and reconnects at exact points.
 * @module
 */
import type { SocketConnector } from '../effects/socket.js';

/** The server side, structurally: `MailboxServer` from `@backchannel/sdk/server` fits. */
export interface MemoryServer {
  /** A client connected: `conn` sends to it and closes it; the handle returned takes its frames. */
  connect(conn: { send(text: string): void; close(code?: number, reason?: string): void }): {
    /** A text frame from the client. */
    receive(frame: string): void;
    /** The client's connection ended. */
    closed(): void;
  };
}

/** Options of the in-memory relay. */
export interface MemoryNetworkOptions {
  /** `auto` (default) delivers on the microtask queue; `manual` waits for {@link MemoryNetwork.step}. */
  mode?: 'auto' | 'manual';
}

interface Link {
  id: number;
  url: string;
  open: boolean;
  closeBoth(reason: string): void;
}

/** An in-memory relay for tests: its `connector` reaches a mailbox server with no sockets, delivery stepped by hand or automatic, with faults to inject. */
export class MemoryNetwork {
  readonly #server: MemoryServer;
  readonly #mode: 'auto' | 'manual';
  readonly #queue: (() => void)[] = [];
  readonly #links = new Set<Link>();
  #nextId = 1;
  /** While false, new connections fail at once (the relay is unreachable). */
  online = true;
  /** Every frame that crossed the network: for audits. */
  readonly frames: { direction: 'in' | 'out'; link: number; text: string }[] = [];

  constructor(server: MemoryServer, options: MemoryNetworkOptions = {}) {
    this.#server = server;
    this.#mode = options.mode ?? 'auto';
  }

  get pending(): number {
    return this.#queue.length;
  }

  get openLinks(): number {
    return [...this.#links].filter((l) => l.open).length;
  }

  #schedule(fn: () => void): void {
    this.#queue.push(fn);
    if (this.#mode === 'auto') queueMicrotask(() => this.step());
  }

  /** Run the scheduled delivery at `index` (0 = oldest; others reorder). False when there is none. */
  step(index = 0): boolean {
    const [fn] = this.#queue.splice(Math.min(index, Math.max(0, this.#queue.length - 1)), 1);
    if (!fn) return false;
    fn();
    return true;
  }

  /** Run the delivery at `index` now and keep it scheduled too: a duplicated frame. */
  duplicate(index = 0): boolean {
    const fn = this.#queue[Math.min(index, this.#queue.length - 1)];
    if (!fn) return false;
    fn();
    return true;
  }

  /** Cut every open connection, as a relay restart or a lost Wi-Fi would. */
  dropAll(): void {
    for (const link of [...this.#links]) link.closeBoth('network dropped');
  }

  /** Cut one connection, chosen by index among the open ones. */
  dropOne(index: number): void {
    const open = [...this.#links].filter((l) => l.open);
    if (open.length > 0) open[index % open.length]!.closeBoth('network dropped');
  }

  readonly connector: SocketConnector = (url, handlers) => {
    const link: Link = { id: this.#nextId++, url, open: false, closeBoth: () => {} };
    let clientClosed = false;
    let serverHandle: ReturnType<MemoryServer['connect']> | undefined;
    const closeClient = (reason: string) => {
      if (clientClosed) return;
      clientClosed = true;
      handlers.onClose({ code: 1006, reason });
    };
    link.closeBoth = (reason) => {
      const wasOpen = link.open;
      link.open = false;
      this.#links.delete(link);
      if (wasOpen) serverHandle?.closed();
      this.#schedule(() => closeClient(reason));
    };
    this.#links.add(link);
    this.#schedule(() => {
      if (!this.online) {
        this.#links.delete(link);
        closeClient('connection refused');
        return;
      }
      if (clientClosed || !this.#links.has(link) || link.open) return;
      link.open = true;
      handlers.onOpen();
      serverHandle = this.#server.connect({
        send: (text) => {
          if (!link.open) return;
          this.frames.push({ direction: 'out', link: link.id, text });
          this.#schedule(() => {
            if (link.open && !clientClosed) handlers.onMessage(text);
          });
        },
        close: (_code, reason) => link.closeBoth(reason ?? 'closed by server'),
      });
    });
    return {
      send: (text) => {
        if (!link.open) return;
        this.frames.push({ direction: 'in', link: link.id, text });
        this.#schedule(() => {
          if (link.open) serverHandle?.receive(text);
        });
      },
      close: () => {
        clientClosed = true;
        if (link.open) {
          link.open = false;
          this.#links.delete(link);
          this.#schedule(() => serverHandle?.closed());
        } else this.#links.delete(link);
      },
    };
  };
}
