/**
 * The connection between two devices once DISCOVER has found them: reliable, ordered, message-framed,
 * with backpressure. WebRTC data channels and the relayed fallback implement it; tests use
 * `adapters/memoryLink`. SYNC only ever talks to this interface.
 * @module
 */

/** What a {@link Transport} reports, by event name. */
export type TransportEvents = {
  /** One whole frame from the other device, in order. */
  message: (frame: Uint8Array) => void;
  /** Once, when either side closed it or the transport failed. */
  close: (reason: string) => void;
};

/** A connection to a contact's device that SYNC runs over (see the module comment). */
export interface Transport {
  /** Hand one frame to the transport; resolves when the transport can take more (backpressure). */
  send(frame: Uint8Array): Promise<void>;
  /** Listen to `message` or `close`; returns the function that stops listening. */
  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void;
  /** Close it (both sides see `close`); frames not yet sent are dropped. */
  close(reason?: string): void;
  /** Whether it has closed, from either side. */
  readonly closed: boolean;
  /** Largest frame the transport carries. */
  readonly maxFrameBytes: number;
}
