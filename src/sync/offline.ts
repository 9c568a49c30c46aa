/**
 * The client side of the offline mailbox. While the contact's device cannot be reached, every local
 * change to the shared channel is deposited on the relay, sealed under a subkey of the contact key;
 * when a device comes back it fetches what waits for it, applies it (validated, saved) and only then
 * acknowledges, so the relay deletes it. A device never acknowledges its own deposits.
 *
 * Sealed payload: `[1][sender device id: 16][doc id: 16][Automerge changes]`.
 * @module
 */
import * as A from '@automerge/automerge';
import { concatBytes, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import { discoveryTopic } from '../crypto/topic.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';

export interface OfflineMailboxInput {
  /** The relay's `/backchannel/v1` endpoint. */
  url: string;
  connector: SocketConnector;
  contactKey: Uint8Array;
  channelId: DocId;
  docs: DocumentStore;
  storage: StorageAdapter;
  deviceId: string;
  randomBytes: RandomBytes;
  /** Wait this long after a change before depositing, to batch bursts (default 50 ms). */
  debounceMs?: number;
  /** Deposit local changes (while the contact is unreachable); false only collects what waits. */
  deposit?: boolean;
  /**
   * Ask the relay again this often (default 10 s): deposits can land after our last fetch (the other
   * device wrote just as we connected), and only a fetch collects — and so deletes — them. Our own
   * relay also says `waiting` when one lands; the poll covers deposits made through other relays.
   */
  fetchEveryMs?: number;
}

/** `deposited`: the relay stored (and acknowledged) our changes up to `heads`. */
export type OfflineEvent =
  | { type: 'offline.fetched'; applied: number }
  | { type: 'offline.deposited'; id: string; heads: A.Heads }
  /** The relay refused a deposit (its quota for the topic, the size bound): the changes stay local. */
  | { type: 'offline.refused'; reason: string }
  /** The connection to the relay came up or went down (it reconnects by itself). */
  | { type: 'offline.relay'; up: boolean };

export function offlineKey(contactKey: Uint8Array): Uint8Array {
  return deriveKey(contactKey, 'backchannel:offline-mailbox:v1');
}

/** Run the mailbox client; returns a stop function. */
export function startOfflineMailbox(input: OfflineMailboxInput, emit: (e: OfflineEvent) => void = () => {}): () => void {
  const topic = discoveryTopic(input.contactKey);
  const key = offlineKey(input.contactKey);
  const headsKey = ['offline', input.channelId, 'deposited'];
  let open_ = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let depositing = false;
  let again = false;

  /** Heads of deposits sent on this connection and not yet acknowledged, oldest first. */
  let pending: A.Heads[] = [];
  /** Heads of the newest deposit sent on this connection: the next one starts there. */
  let sentHeads: A.Heads | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;

  let socket = connect();
  let retry: ReturnType<typeof setTimeout> | undefined;
  let attempts = 0;

  const fetchDeposits = () => socket.send(JSON.stringify({ type: 'fetch', topic }));

  /** (Re)connect to the relay; a lost connection (a relay restart) is retried with backoff. */
  function connect() {
    return input.connector(input.url, {
      onOpen: () => {
        open_ = true;
        attempts = 0;
        emit({ type: 'offline.relay', up: true });
        // Deposits unacknowledged on the last connection may never have been stored: send them again
        // (a duplicate is harmless: Automerge applies a change once).
        pending = [];
        sentHeads = undefined;
        fetchDeposits();
        clearInterval(poll);
        poll = setInterval(fetchDeposits, input.fetchEveryMs ?? 10_000);
        if (input.deposit !== false) schedule(); // anything written while we could not reach anyone
      },
      onMessage: (text) => void onFrame(text),
      onClose: () => {
        const was = open_;
        open_ = false;
        clearInterval(poll);
        if (stopped) return;
        if (was || attempts === 0) emit({ type: 'offline.relay', up: false });
        retry = setTimeout(() => (socket = connect()), Math.min(10_000, 100 * 2 ** attempts++));
      },
    });
  }

  async function onFrame(text: string): Promise<void> {
    let m: { type?: string; items?: { id: string; blob: string }[]; id?: string };
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.type === 'deposits' && Array.isArray(m.items)) {
      const done: string[] = [];
      let applied = 0;
      // If everything we have is already with the peer, what the peer deposited is too: remember that,
      // or we would deposit the peer's own changes straight back to it.
      const doc0 = input.docs.get(input.channelId);
      const upToDate = sameHeads(A.getHeads(doc0), await since());
      for (const item of m.items) {
        let plain: Uint8Array;
        try {
          plain = open(key, fromBase64(item.blob));
        } catch {
          continue; // not ours to read: leave it
        }
        if (plain[0] !== 1 || plain.length < 33) continue;
        if (toHex(plain.subarray(1, 17)) === input.deviceId) continue; // our own deposit: for the other device
        const docId = toHex(plain.subarray(17, 33));
        if (docId !== input.channelId) continue;
        const changes = plain.subarray(33);
        try {
          const r = await input.docs.update(docId, (doc) => A.loadIncremental(doc, changes));
          if (!r.accepted) continue;
        } catch {
          continue;
        }
        applied++;
        done.push(item.id);
      }
      if (done.length > 0 && upToDate) {
        await input.storage.save(headsKey, new TextEncoder().encode(JSON.stringify(A.getHeads(input.docs.get(input.channelId)))));
      }
      if (done.length > 0 && open_) socket.send(JSON.stringify({ type: 'ack', topic, ids: done }));
      emit({ type: 'offline.fetched', applied });
    } else if (m.type === 'waiting') {
      fetchDeposits(); // someone deposited for this topic since our last fetch
    } else if (m.type === 'deposited' && typeof m.id === 'string') {
      // Only now is it ours to forget: the relay stored it.
      const heads = pending.shift();
      if (!heads) return;
      await input.storage.save(headsKey, new TextEncoder().encode(JSON.stringify(heads)));
      emit({ type: 'offline.deposited', id: m.id, heads });
    } else if (m.type === 'error' && pending.length > 0) {
      // Refused (a full mailbox): the next deposit starts again from what the relay acknowledged.
      pending = [];
      sentHeads = undefined;
      emit({ type: 'offline.refused', reason: typeof (m as { reason?: unknown }).reason === 'string' ? (m as { reason: string }).reason : 'refused' });
    }
  }

  /** Changes since what we last deposited, or since what a peer is known to have. */
  async function since(): Promise<A.Heads> {
    if (sentHeads) return sentHeads;
    const saved = await input.storage.load(headsKey);
    if (saved) return JSON.parse(new TextDecoder().decode(saved)) as A.Heads;
    const states = await input.storage.loadRange(['sync', input.channelId]);
    const doc = input.docs.get(input.channelId);
    for (const s of states) {
      const heads = A.decodeSyncState(s.data).sharedHeads;
      if (heads.length > 0 && A.hasHeads(doc, heads)) return heads;
    }
    return [];
  }

  async function deposit(): Promise<void> {
    if (depositing) {
      again = true;
      return;
    }
    depositing = true;
    try {
      do {
        again = false;
        if (!open_ || stopped) return;
        const doc = input.docs.get(input.channelId);
        const changes = A.saveSince(doc, await since());
        if (changes.length === 0) continue;
        const payload = concatBytes(Uint8Array.of(1), fromHex(input.deviceId), fromHex(input.channelId), changes);
        socket.send(JSON.stringify({ type: 'deposit', topic, blob: toBase64(seal(key, payload, input.randomBytes)) }));
        sentHeads = A.getHeads(doc);
        pending.push(sentHeads);
      } while (again);
    } finally {
      depositing = false;
    }
  }

  function schedule(): void {
    clearTimeout(timer);
    timer = setTimeout(() => void deposit(), input.debounceMs ?? 50);
  }

  const depositing_ = input.deposit !== false;
  const off = input.docs.onChange((id) => {
    if (id === input.channelId && !stopped && depositing_) schedule();
  });

  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(retry);
    clearInterval(poll);
    off();
    socket.close();
  };
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}
