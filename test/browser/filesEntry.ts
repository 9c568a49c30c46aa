/** Bundled for Chromium: Bob's device on IndexedDB, sending and receiving files (relayed, or over the browser's WebRTC). */
import { browserSocketConnector } from '../../src/adapters/browserSocket.js';
import { LocalforageStorage } from '../../src/adapters/localforageStorage.js';
import { createBackchannel, type Backchannel } from '../../src/app/backchannel.js';
import { createHasher } from '../../src/files/chunkStore.js';

declare global {
  interface Window {
    files: {
      /** `rtc`: connect with the browser's own WebRTC (direct), else relayed only. */
      open(relay: string, rtc?: boolean): Promise<void>;
      /** How the contact is connected right now ('direct', 'relayed'), or undefined. */
      presence(contactId: string): string | undefined;
      accept(code: string): Promise<{ id: string; verifier: string }>;
      /** Send `size` pseudo-random bytes as a Blob; resolves with the message's hash. */
      sendBlob(contactId: string, size: number): Promise<string>;
      /** Transfers finished here, by direction and hash. */
      done(): string[];
      /** A stored file read back as a Blob: its size and blake3. */
      read(hash: string): Promise<{ size: number; hash: string; type: string }>;
      close(): Promise<void>;
    };
  }
}

let bc: Backchannel | undefined;
const done: string[] = [];
window.files = {
  async open(relay, rtc = false) {
    bc = await createBackchannel({
      storage: new LocalforageStorage('bob-files'),
      connector: browserSocketConnector(),
      relay,
      discoverTimeouts: { reconnectBaseMs: 100 },
      ...(rtc ? { rtc: { RTCPeerConnection: window.RTCPeerConnection } } : {}),
    });
    bc.subscribe((e) => {
      if (e.type === 'transfer' && (e.status === 'done' || e.status === 'failed')) done.push(`${e.direction} ${e.status} ${e.hash}`);
    });
  },
  async accept(code) {
    const c = await bc!.accept(code, { moniker: 'Alice' });
    return { id: c.id, verifier: c.verifier };
  },
  async sendBlob(contactId, size) {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
    const m = await bc!.send(contactId, { file: { data: new Blob([bytes]), filename: 'from-chromium.bin', mimetype: 'application/octet-stream' } });
    return m.file!.hash;
  },
  done: () => [...done],
  presence: (contactId) => bc!.presence(contactId),
  async read(hash) {
    const blob = await bc!.fileBlob(hash, 'application/octet-stream');
    const h = await createHasher();
    h.update(new Uint8Array(await blob.arrayBuffer()));
    return { size: blob.size, hash: h.hex(), type: blob.type };
  },
  async close() {
    await bc!.close();
  },
};
