/**
 * The depot client's effects on this device, as XState actors over the injected `DocumentStore` and
 * `StorageAdapter`: hear local changes, prepare a deposit, apply fetched deposits, remember what the
 * relay stored. `depotMachine` names them in `setup`; tests `.provide()` stand-ins.
 * @module
 */
import { checkChangesUnpackedSize, MAX_UNPACKED_BYTES } from '../sync/unpackBound.js';
import * as A from '@automerge/automerge';
import { fromCallback, fromPromise } from 'xstate';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { RandomBytes } from '../effects/random.js';
import type { StorageAdapter } from '../effects/storage.js';
import { concatBytes } from '../crypto/bytes.js';
import { SYSTEM_SECRET_KEY } from '../db/database.js';
import { signedFieldsOf } from '../db/messageSignature.js';
import { unlinkEdges, unlinkStanding } from '../devices/unlinks.js';
import { ackPlan, ackToken, openAnyDeposit, sealDeposit, type AckPlan, type OpenedDeposit, type ReaderKeys } from './payload.js';
import { MAX_DEPOSIT_READERS, type DepositItem } from './wire.js';
import type { FileEvent } from '../files/session.js';
import { applyChunk, chunkDeposits, saveDepositedChunk, type ChunkRef } from './depotFiles.js';

/** Where the depot client keeps its state on this device. */
export interface DepotLedger {
  docs: DocumentStore;
  storage: StorageAdapter;
  channelId: DocId;
}

/**
 * Storage key of the heads the relay last acknowledged for the channel. Written as 'offline' before the
 * depot had its name; kept, so devices that update do not deposit everything again.
 */
const headsKey = (channelId: DocId) => ['offline', channelId, 'deposited'];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * What the relay last stored (saved with the devices it was for; saved before they were kept: the
 * heads alone), if it was for each of `readers`: a device added since never saw the deposits before
 * it, which go once their own readers acked.
 */
async function savedFor(ledger: DepotLedger, readers: ReadonlySet<string>): Promise<A.Heads | undefined> {
  const saved = await ledger.storage.load(headsKey(ledger.channelId));
  if (!saved) return undefined;
  const value = JSON.parse(decoder.decode(saved)) as A.Heads | { heads: A.Heads; readers: string[] };
  if (Array.isArray(value)) return value;
  return [...readers].every((d) => value.readers.includes(d)) ? value.heads : undefined;
}

/**
 * Changes since what we last deposited (`sent`), or what the relay last stored for these readers, or
 * what the devices the deposit is for (`readers`) are known to have: with several (a sync state
 * each), heads every one of them has, so each device's deposit brings what that device lacks (see
 * {@link commonBase}). A reader we never synced with has, for all we know, nothing: then everything goes.
 */
async function since(ledger: DepotLedger, sent: A.Heads | undefined, readers: ReadonlySet<string>): Promise<A.Heads> {
  if (sent) return sent;
  const saved = await savedFor(ledger, readers);
  if (saved) return saved;
  const states = await ledger.storage.loadRange(['sync', ledger.channelId]);
  const doc = ledger.docs.get(ledger.channelId);
  const known = new Map<string, A.Heads>();
  for (const s of states) {
    const heads = A.decodeSyncState(s.data).sharedHeads;
    if (heads.length > 0 && A.hasHeads(doc, heads)) known.set(String(s.key.at(-1)), heads);
  }
  if ([...readers].some((d) => !known.has(d))) return [];
  const all = [...known.values()];
  return all.length <= 1 ? (all[0] ?? []) : commonBase(doc, all);
}

/**
 * The devices a deposit in the channel is for: in our own channel my other devices, and those unlinked
 * there (they must still read the notice), else the contact's proven set.
 */
function readersOf(ledger: DepotLedger & { own?: boolean; deviceId?: string }): ReadonlySet<string> {
  return ledger.own ? new Set([...ledger.docs.ownDeviceIds(), ...unlinkedIn(ledger)]) : ledger.docs.peerDevicesOf(ledger.channelId);
}

/**
 * Those devices with their public keys: what their ack tokens are sealed to (an unlinked device: its
 * bare tag), and, in our own channel, the unlinked ones apart: my current devices come first under the
 * readers' cap, so no number of unlinked ones pushes one of them out.
 */
function readerKeysOf(ledger: DepotLedger & { own?: boolean; deviceId?: string }): { keys: ReaderKeys; later?: ReadonlySet<string> } {
  if (!ledger.own) return { keys: ledger.docs.peerKeysOf(ledger.channelId) };
  const current = ledger.docs.ownDeviceKeys();
  const later = new Set(unlinkedIn(ledger).filter((id) => !current.has(id)));
  const keys = new Map<string, string[]>([...later].map((id) => [id, []]));
  for (const [id, key] of current) keys.set(id, key === '' ? [] : [key]);
  return { keys, later };
}

/**
 * Devices unlinked in our own channel, other than this one: what its unlink notices
 * (`devices/selfLink.ts`) that count unlink (`devices/unlinks.ts`). A notice counts only if this device
 * wrote it (the store takes no peer's message in this device's name) or it verifies with the key of
 * one of my current devices: a notice anyone else wrote into the channel (in a made-up name, say,
 * with the set key) adds no reader.
 */
function unlinkedIn(ledger: DepotLedger & { deviceId?: string }): string[] {
  const doc = ledger.docs.get<{ messages?: unknown[] }>(ledger.channelId);
  const keys = ledger.docs.ownDeviceKeys();
  const edges = unlinkEdges(ledger.channelId, (doc.messages ?? []).map(signedFieldsOf), keys, ledger.deviceId);
  // The devices unlinked count as known here (forgotten already, they must still read the notice).
  const known = new Set([...keys.keys(), ...edges.map((e) => e.target)]);
  if (ledger.deviceId !== undefined) known.add(ledger.deviceId);
  const { out } = unlinkStanding(edges, known);
  out.delete(ledger.deviceId ?? '');
  return [...out];
}

/**
 * Whether some of `changes` wait in `doc` for changes it lacks (Automerge holds them back, unsaved):
 * the deposit builds on what this device does not have, so it is not applied.
 */
function heldBack(doc: A.Doc<unknown>, changes: Uint8Array): boolean {
  if (A.getMissingDeps(doc, []).length === 0) return false;
  return !A.hasHeads(doc, A.getMissingDeps(A.loadIncremental(A.init(), changes), []));
}

/**
 * Heads whose history every device of `known` (each one's shared heads) has: the changes some device
 * lacks (the union of what each lacks) are left out, and what they depend on outside them, with the
 * document's own heads outside them, is the base. A device lacking a change lacks what depends on it,
 * so nothing before these heads is missing anywhere.
 */
function commonBase(doc: A.Doc<unknown>, known: A.Heads[]): A.Heads {
  const lacking = new Map<string, string[]>();
  for (const heads of known) {
    for (const change of A.getChangesSince(doc, heads)) {
      const decoded = A.decodeChange(change);
      if (!lacking.has(decoded.hash!)) lacking.set(decoded.hash!, decoded.deps);
    }
  }
  const base = new Set(A.getHeads(doc).filter((h) => !lacking.has(h)));
  for (const deps of lacking.values()) for (const dep of deps) if (!lacking.has(dep)) base.add(dep);
  return [...base];
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

/** `doc.changed` for every saved change to the channel (local or from a peer). */
export const docChanges = fromCallback<{ type: 'noop' }, Pick<DepotLedger, 'docs' | 'channelId'>, { type: 'doc.changed' }>(({ input, sendBack }) =>
  input.docs.onChange((id) => {
    if (id === input.channelId) sendBack({ type: 'doc.changed' });
  }),
);

export interface PrepareInput extends DepotLedger {
  key: Uint8Array;
  /**
   * The contact key: with it the deposits list their readers, the contact's devices the channel proves
   * (`DocumentStore.peerKeysOf`; in our own channel my other devices), each with an ack token sealed
   * to it, so each of them gets what is deposited and only it can ack for itself.
   */
  contactKey?: Uint8Array;
  deviceId: string;
  randomBytes: RandomBytes;
  /** Heads of the newest deposit sent on this connection, if any: the next one starts there. */
  sent?: A.Heads;
  /** My devices' own channel: the deposits are for my other devices. */
  own?: boolean;
  /** Largest blob (base64 characters) one deposit may carry: under the relay's frame and deposit limits. */
  maxBlobChars: number;
  /** Blob characters prepared at once, at most (at least one deposit): the relay bounds what a connection has in flight. */
  maxBatchChars: number;
  /**
   * Deposit files this device sent too, after the changes, up to `limit` bytes each (`depot/depotFiles.ts`):
   * `sent`, the next chunk per file already sent on this connection; `skip`, files not to try again.
   */
  files?: { limit: number; sent: Readonly<Record<string, number>>; skip: readonly string[] };
}

/** A sealed deposit ready to send, and the heads it brings the contact to; `file`: it carries that chunk of a file instead of changes. */
export interface PreparedDeposit {
  blob: string;
  heads: A.Heads;
  file?: ChunkRef;
  /** The readers it lists (`depot/wire.ts`: `tag:check`, a token for each sealed inside); none: the first ack takes it. */
  readers?: string[];
  /** The devices it is for (ids): the relay's `deposited` saves its heads as theirs. */
  devices?: string[];
}

/** A file no deposit can carry: it waits on this device. */
export interface RefusedFile {
  hash: string;
  size: number;
  reason: string;
}

/**
 * What is new, as deposits each under `maxBlobChars`, oldest first (none when nothing is new); and,
 * when a single change is too large for any deposit, why the rest cannot go (they stay local).
 */
export interface PreparedDeposits {
  deposits: PreparedDeposit[];
  refused?: string;
  /** More is new than `maxBatchChars` allowed: prepare again once these are acknowledged. */
  more?: boolean;
  /** Files that cannot go through the relay (a chunk larger than any deposit). */
  refusedFiles?: RefusedFile[];
}

/** Blob characters a deposit may carry by default: half the relay's 1 MiB frame, room for the envelope. */
export const DEFAULT_MAX_DEPOSIT_CHARS = 512 * 1024;

/** Blob characters sent before waiting for `deposited`: half the relay's 8 MiB bound on bytes in flight. */
export const DEFAULT_MAX_BATCH_CHARS = 4 * 1024 * 1024;

/** Sealing adds a nonce (24), a MAC (16) and the header (33) before base64 (4 characters per 3 bytes). */
const changesBudget = (maxBlobChars: number): number => Math.floor(maxBlobChars / 4) * 3 - 24 - 16 - 33;

/** Every reader (the contact's verified set; in our own channel my other devices) must ack before the relay lets a deposit go. */
export const prepareDeposit = fromPromise<PreparedDeposits, PrepareInput>(({ input }) => {
  const readers = input.contactKey && readerKeysOf(input);
  return prepare(input, input.contactKey && readers ? ackPlan(input.contactKey, readers.keys, MAX_DEPOSIT_READERS, readers.later) : undefined);
});

async function prepare(input: PrepareInput, plan: AckPlan | undefined): Promise<PreparedDeposits> {
  const doc = input.docs.get(input.channelId);
  const base = await since(input, input.sent, readersOf(input));
  const changes = A.getChangesSince(doc, base);
  // The readers' boxes ride inside each deposit: room for them first.
  const budget = changesBudget(input.maxBlobChars) - (plan?.bytes ?? 0);
  const newAcks = plan && (() => plan.make(input.randomBytes));
  const devices = [...readersOf(input)];
  const deposits: PreparedDeposit[] = [];
  // The heads after each deposit: what the contact has, plus its changes, minus what they depend on.
  const heads = new Set(base);
  let chunk: Uint8Array[] = [];
  let bytes = 0;
  let batch = 0;
  const flush = () => {
    if (chunk.length === 0) return;
    const content = { sender: input.deviceId, docId: input.channelId, changes: concatBytes(...chunk) };
    const acks = newAcks?.();
    const blob = sealDeposit(input.key, content, input.randomBytes, acks);
    deposits.push({ blob, heads: [...heads], devices, ...(acks ? { readers: acks.readers } : {}) });
    batch += blob.length;
    chunk = [];
    bytes = 0;
  };
  for (const change of changes) {
    if (batch > 0 && batch + input.maxBlobChars > input.maxBatchChars) return { deposits, more: true };
    if (change.length > budget) {
      flush();
      return { deposits, refused: `a change of ${change.length} bytes is larger than a deposit can carry (${budget} bytes)` };
    }
    if (bytes + change.length > budget) {
      flush();
      if (batch + input.maxBlobChars > input.maxBatchChars) return { deposits, more: true };
    }
    const decoded = A.decodeChange(change);
    for (const dep of decoded.deps) heads.delete(dep);
    heads.add(decoded.hash!);
    chunk.push(change);
    bytes += change.length;
  }
  flush();
  if (!input.files) return { deposits };
  // Then the files, after the changes that name them: the contact applies deposits in order.
  const refusedFiles: RefusedFile[] = [];
  const ackChars = plan ? Math.ceil(plan.bytes / 3) * 4 + 4 : 0;
  const files = chunkDeposits({ ...input, ...input.files, ...(newAcks ? { acks: newAcks } : {}) }, input.maxBlobChars - ackChars);
  for await (const next of files) {
    if ('refused' in next) {
      refusedFiles.push(next.refused);
      continue;
    }
    if (batch > 0 && batch + next.deposit.blob.length > input.maxBatchChars) {
      await files.return(undefined);
      return { deposits, more: true, ...(refusedFiles.length > 0 ? { refusedFiles } : {}) };
    }
    const { readers } = next.deposit;
    deposits.push({ blob: next.deposit.blob, heads: [...heads], devices, file: next.deposit.file, ...(readers ? { readers } : {}) });
    batch += next.deposit.blob.length;
  }
  return { deposits, ...(refusedFiles.length > 0 ? { refusedFiles } : {}) };
}

export interface ApplyInput extends DepotLedger {
  key: Uint8Array;
  deviceId: string;
  /** This device's depot tag: which of a deposit's boxes holds its ack token (none: no tokens are opened). */
  tag?: string;
  items: DepositItem[];
  sent?: A.Heads;
  /**
   * My devices' own channel: my other devices' deposits are applied, and acknowledged with our token
   * (they go once every device of mine has them); one carrying no token for us is left for the others.
   */
  own?: boolean;
}

/** What applying a page did: the ids to acknowledge (with our ack token for each, '' where the deposit has none), and what the host hears of files arriving. */
export interface AppliedDeposits {
  applied: number;
  ids: string[];
  tokens: string[];
  files?: FileEvent[];
  /** In a contact's channel, my other devices whose deposits this page held (for the contact, left alone): later fetches leave them out. */
  mine?: string[];
}

/** Apply what the contact deposited (changes validated and saved, file chunks stored and checked); returns the ids to acknowledge. */
export const applyDeposits = fromPromise<AppliedDeposits, ApplyInput>(async ({ input }) => {
  const ids: string[] = [];
  const tokens: string[] = [];
  const files: FileEvent[] = [];
  // Our token, opened with this device's key (read once, only when a deposit carries a box for us).
  let seed: Promise<Uint8Array | undefined> | undefined;
  const tokenOf = async (content: OpenedDeposit): Promise<string> => {
    const tag = input.tag;
    if (tag === undefined || !content.acks?.some((b) => b.tag === tag)) return '';
    seed ??= input.storage.load(SYSTEM_SECRET_KEY);
    const secret = await seed;
    return (secret && ackToken(content.acks, tag, secret)) ?? '';
  };
  // If everything we have is already with the peer, what the peer deposited is too: remember that, or
  // we would deposit the peer's own changes straight back to it.
  const readers = readersOf(input);
  const upToDate = sameHeads(A.getHeads(input.docs.get(input.channelId)), await since(input, input.sent, readers));
  // Whose deposits were applied: what one device of the contact deposited, it has; its other devices may not.
  const senders = new Set<string>();
  const seen = new Set<string>();
  const mine = new Set<string>();
  for (const item of input.items) {
    // An id twice in a page (a relay's mistake): applied once, acked once (the relay refuses an ack repeating one).
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    const content = openAnyDeposit(input.key, item.blob);
    if (!content) continue; // not ours to read: leave it
    // Another device of mine, in a contact's channel: its deposits (file chunks too) are for the contact; later fetches leave them out.
    const fromMine = input.docs.isOwnDevice(content.sender);
    if (fromMine && !input.own) mine.add(content.sender);
    if (content.kind === 'chunk') {
      try {
        const applied = await applyChunk(input, content);
        files.push(...applied.events);
        if (applied.ack) {
          ids.push(item.id);
          tokens.push(await tokenOf(content));
        }
      } catch {
        // storage failed: the chunk is fetched again later
      }
      continue;
    }
    // Ours, or another device of mine: for the contact. Acknowledged here, the relay would drop it unseen.
    // In our own channel another device's deposit is for me, and for my other devices too: acknowledged
    // with our token (it goes once each of them acked), or, carrying none for us, applied and left.
    if (content.sender === input.deviceId || (fromMine && !input.own)) continue;
    if (content.docId !== input.channelId) continue;
    const token = await tokenOf(content);
    try {
      // Measured before Automerge unpacks it: a deposit is as small as a sync message and could be a deflate bomb.
      checkChangesUnpackedSize(content.changes, MAX_UNPACKED_BYTES);
      // The contact's rules hold for deposits too: only inserts of messages in the depositor's name.
      const r = await input.docs.update(content.docId, (doc) => A.loadIncremental(doc, content.changes), { trust: 'contact', peer: content.sender });
      if (!r.accepted || (fromMine && token === '')) continue;
      // Not applied, so not acknowledged: fetched again once what it builds on has come.
      if (heldBack(input.docs.get(content.docId), content.changes)) continue;
    } catch {
      continue;
    }
    if (!fromMine) senders.add(content.sender);
    ids.push(item.id);
    tokens.push(token);
  }
  if (ids.length > 0 && upToDate && [...readers].every((d) => senders.has(d)))
    await saveHeadsNow(input, A.getHeads(input.docs.get(input.channelId)), [...readers]);
  return { applied: ids.length, ids, tokens, ...(files.length > 0 ? { files } : {}), ...(mine.size > 0 ? { mine: [...mine] } : {}) };
});

function saveHeadsNow(ledger: DepotLedger, heads: A.Heads, readers: string[]): Promise<void> {
  return ledger.storage.save(headsKey(ledger.channelId), encoder.encode(JSON.stringify({ heads, readers })));
}

/** The relay stored our changes up to `heads` for `devices`: the next deposit for them starts there. */
export const saveHeads = fromPromise<void, DepotLedger & { heads: A.Heads; devices?: string[] }>(({ input }) =>
  saveHeadsNow(input, input.heads, input.devices ?? []),
);

/** The relay stored a chunk of a file: count it (the next deposit of that file starts after it). */
export const saveChunk = fromPromise<void, Pick<DepotLedger, 'storage' | 'channelId'> & { file: ChunkRef }>(({ input }) =>
  saveDepositedChunk(input.storage, input.channelId, input.file),
);
