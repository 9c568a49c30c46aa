/**
 * The connection between two devices once DISCOVER has found them: reliable, ordered, message-framed,
 * with backpressure. WebRTC data channels and the relayed fallback implement it; tests use
 * `adapters/memoryLink`. SYNC only ever talks to this interface.
 * @module
 */

export type TransportEvents = {
  message: (frame: Uint8Array) => void;
  /** Once, when either side closed it or the transport failed. */
  close: (reason: string) => void;
};

export interface Transport {
  /** Hand one frame to the transport; resolves when the transport can take more (backpressure). */
  send(frame: Uint8Array): Promise<void>;
  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void;
  close(reason?: string): void;
  readonly closed: boolean;
  /** Largest frame the transport carries. */
  readonly maxFrameBytes: number;
}
