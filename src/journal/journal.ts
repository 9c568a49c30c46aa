/**
 * The event journal: every event a state machine actor processes, appended through the storage adapter,
 * so `replay()` can rebuild each actor's snapshot from its events alone.
 *
 * The journal listens as an XState inspector (`journal.observe`) and records, per actor:
 *   start       a machine's path (`app/link-…/discover`), machine id and initial state, when it starts
 *   spawn       the same for an effect actor (callback, promise: a socket, a session), by its `src`
 *   event       each event it processed that changed its snapshot, in order (taken from `@xstate.snapshot`,
 *               which XState sends after processing, so events dropped by a stopping actor are never
 *               recorded; one that left the snapshot as it was would replay to the same state, and is not)
 *   end         when it stops, finishes or fails
 *   checkpoint  a machine's state at a compaction (effect actors get a `spawn` again)
 * Values are encoded by `encode.ts`: secrets and byte arrays sealed under the device's journal key,
 * effects (functions, stores, channels) named, never serialised.
 *
 * Storage: the key at `['journal', 'key']`, records in segments `['journal', 'seg', <first seq>]`,
 * written in batches (group commit, at most `flushMs` after the event). Retention: when more than
 * `maxRecords` are stored, a checkpoint of every running actor is written and the segments before it
 * are deleted, so the journal stays bounded and replay starts from the checkpoint.
 * @module
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { fromUtf8, toBase64, fromBase64, utf8 } from '../crypto/bytes.js';
import { open as openBox, seal as sealBox } from '../crypto/secretbox.js';
import { systemClock, type Clock } from '../effects/clock.js';
import { cryptoRandomBytes, type RandomBytes } from '../effects/random.js';
import type { StorageAdapter } from '../effects/storage.js';
import { encode, decode, type Json, type Sealer } from './encode.js';

/** Where the journal keeps its sealing key in storage. */
export const JOURNAL_KEY = ['journal', 'key'];
const SEGMENTS = ['journal', 'seg'];

/** One record of the journal: an actor started, an event it processed, or it ended. */
export type JournalRecord =
  | { seq: number; k: 'start' | 'checkpoint'; a: number; path: string; machine: string; state: Json }
  | { seq: number; k: 'spawn'; a: number; path: string; effect: string }
  | { seq: number; k: 'event'; a: number; event: Json }
  | { seq: number; k: 'end'; a: number; status: string };

/** A record with its sealed parts opened: what replay reads. */
export type OpenedRecord =
  | { seq: number; k: 'start' | 'checkpoint'; a: number; path: string; machine: string; state: { value: unknown; context: unknown; children: string[] } }
  | { seq: number; k: 'spawn'; a: number; path: string; effect: string }
  | { seq: number; k: 'event'; a: number; event: { type: string } & Record<string, unknown> }
  | { seq: number; k: 'end'; a: number; status: string };

/** Options of the journal: its storage, bounds, flush timing and effects. */
export interface JournalOptions {
  storage: StorageAdapter;
  /** Records kept before a compaction folds them into a checkpoint (default 10 000). */
  maxRecords?: number;
  /** Recorded events are written at most this long after they happen (default 250 ms). */
  flushMs?: number;
  randomBytes?: RandomBytes;
  /** Schedules the flushes (default `systemClock`). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /** Called when a write fails; the journal keeps the records and tries again at the next flush. */
  onError?: (error: unknown) => void;
}

interface Live {
  a: number;
  path: string;
  /** A machine's id, or undefined for an effect actor. */
  machine: string | undefined;
  effect: string;
  ref: AnyActorRef;
  /** The snapshot after the last event it processed: an event that leaves this very object changed nothing. */
  last: unknown;
}

/** A machine actor's logic (StateMachine): the only kind the journal records and replays. */
function machineIdOf(ref: AnyActorRef): string | undefined {
  const logic = (ref as { logic?: { id?: unknown; resolveState?: unknown } }).logic;
  return logic && typeof logic.resolveState === 'function' && typeof logic.id === 'string' ? logic.id : undefined;
}

const segmentName = (seq: number) => String(seq).padStart(12, '0');

/** The device's event journal: every event every machine processed, secrets sealed, bounded by compaction; read it with `replay`. */
export class Journal {
  readonly #storage: StorageAdapter;
  readonly #sealer: Sealer;
  readonly #maxRecords: number;
  readonly #flushMs: number;
  readonly #clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  readonly #onError: (error: unknown) => void;
  #seq: number;
  #stored: number;
  #nextActor = 0;
  #buffer: JournalRecord[] = [];
  #timer: unknown;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Records were dropped (writes kept failing): the next write is a checkpoint, so replay stays whole. */
  #gap = false;
  #dropped = 0;
  readonly #live = new Map<AnyActorRef, Live>();
  readonly #parents = new WeakMap<AnyActorRef, AnyActorRef | undefined>();
  readonly #paths = new WeakMap<AnyActorRef, string>();

  private constructor(options: JournalOptions, key: Uint8Array, seq: number, stored: number) {
    this.#storage = options.storage;
    const randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.#sealer = { seal: (plain) => toBase64(sealBox(key, plain, randomBytes)), open: (sealed) => openBox(key, fromBase64(sealed)) };
    this.#maxRecords = options.maxRecords ?? 10_000;
    this.#flushMs = options.flushMs ?? 250;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? (() => {});
    this.#seq = seq;
    this.#stored = stored;
  }

  /** Open the journal on `storage` (creating its key on first use). */
  static async open(options: JournalOptions): Promise<Journal> {
    let key = await options.storage.load(JOURNAL_KEY);
    if (!key || key.length !== 32) {
      key = (options.randomBytes ?? cryptoRandomBytes)(32);
      // Segments sealed under a lost key can never be opened again: start the journal afresh.
      await options.storage.removeRange(SEGMENTS);
      await options.storage.save(JOURNAL_KEY, key);
    }
    const segments = await readSegments(options.storage);
    const last = segments.at(-1)?.at(-1);
    return new Journal(
      options,
      key,
      last ? last.seq + 1 : 0,
      segments.reduce((n, s) => n + s.length, 0),
    );
  }

  /** The inspector to give `createActor(…, { inspect })`: records every actor in that system. */
  readonly observe = (event: InspectionEvent): void => {
    if (this.#closed) return;
    if (event.type === '@xstate.event' && event.event.type === 'xstate.init') {
      this.#parents.set(event.actorRef as AnyActorRef, event.sourceRef as AnyActorRef | undefined);
      return;
    }
    if (event.type !== '@xstate.snapshot') return;
    const ref = event.actorRef as AnyActorRef;
    const status = (event.snapshot as { status: string }).status;
    if (event.event.type === 'xstate.init') {
      if (this.#live.has(ref)) return;
      const machine = machineIdOf(ref);
      const src = (ref as { src?: unknown }).src;
      const live: Live = {
        a: this.#nextActor++,
        path: this.#pathOf(ref),
        machine,
        effect: typeof src === 'string' ? src : 'inline',
        ref,
        last: event.snapshot,
      };
      this.#live.set(ref, live);
      this.#push(this.#begin(live, machine ? 'start' : 'spawn', event.snapshot));
    } else {
      const live = this.#live.get(ref);
      if (!live) return;
      // XState hands back the very snapshot it had when an event changes nothing (no transition, or one
      // with only actions: a sendParent, an emit). Replaying such an event would change nothing either,
      // so a machine's is not recorded: a burst of them (a sync message's `link.synced` / `contact.synced`,
      // `engine.shared`, one per message bringing new heads) costs the journal no record.
      const changed = live.machine === undefined || event.snapshot !== live.last;
      live.last = event.snapshot;
      if (event.event.type !== 'xstate.stop' && changed) this.#push({ seq: 0, k: 'event', a: live.a, event: encode(event.event, this.#sealer) });
      if (status === 'active') return;
      this.#live.delete(ref);
      this.#push({ seq: 0, k: 'end', a: live.a, status });
    }
  };

  /** The record an actor's history starts from: its state (a machine) or just its kind (an effect). */
  #begin(live: Live, k: 'start' | 'checkpoint' | 'spawn', snapshot: unknown): JournalRecord {
    if (live.machine === undefined || k === 'spawn') return { seq: 0, k: 'spawn', a: live.a, path: live.path, effect: live.effect };
    return { seq: 0, k, a: live.a, path: live.path, machine: live.machine, state: this.#state(snapshot) };
  }

  /** `app/link-…/discover`: the ids from the root down (the root by its machine id). A parent's init
   * event comes before its children start, so the chain is known even before the parent's snapshot. */
  #pathOf(ref: AnyActorRef): string {
    let path = this.#paths.get(ref);
    if (path === undefined) {
      const parent = this.#parents.get(ref);
      path = parent ? `${this.#pathOf(parent)}/${ref.id}` : (machineIdOf(ref) ?? ref.id);
      this.#paths.set(ref, path);
    }
    return path;
  }

  /** What replay starts from: value, context, and the ids of the children then running. */
  #state(snapshot: unknown): Json {
    const { value, context, children } = snapshot as { value: unknown; context: unknown; children?: Record<string, unknown> };
    return encode({ value, context, children: Object.keys(children ?? {}) }, this.#sealer);
  }

  #push(record: JournalRecord): void {
    record.seq = this.#seq++;
    this.#buffer.push(record);
    this.#timer ??= this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#flushMs);
  }

  /** Write what is buffered (and compact when over the limit). Resolves once it is stored. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#writing = this.#writing.then(async () => {
      try {
        if (this.#gap) {
          await this.#compact();
          this.#gap = false;
          return;
        }
        const batch = this.#buffer.splice(0);
        if (batch.length === 0) return;
        try {
          await this.#storage.save([...SEGMENTS, segmentName(batch[0]!.seq)], utf8(JSON.stringify(batch)));
          this.#stored += batch.length;
        } catch (err) {
          this.#buffer.unshift(...batch); // kept, in order, for the next flush
          if (this.#buffer.length > this.#maxRecords) {
            // Bounded even when storage keeps failing: drop the backlog, checkpoint once it works again.
            this.#dropped += this.#buffer.length;
            this.#buffer = [];
            this.#gap = true;
          }
          throw err;
        }
        if (this.#stored > this.#maxRecords) await this.#compact();
      } catch (err) {
        this.#onError(err);
      }
    });
    return this.#writing;
  }

  /** A checkpoint of every running actor, then the segments before it go. */
  async #compact(): Promise<void> {
    // Whatever is still buffered happened before this point: the checkpoint covers it.
    this.#buffer = [];
    const first = this.#seq;
    const checkpoint: JournalRecord[] = [...this.#live.values()].map((l) => ({ ...this.#begin(l, 'checkpoint', l.ref.getSnapshot()), seq: this.#seq++ }));
    if (checkpoint.length > 0) await this.#storage.save([...SEGMENTS, segmentName(first)], utf8(JSON.stringify(checkpoint)));
    for (const chunk of await this.#storage.loadRange(SEGMENTS)) {
      if (Number(chunk.key[2]) < first) await this.#storage.remove(chunk.key);
    }
    this.#stored = checkpoint.length;
  }

  /** Every stored record (after a flush), opened: secrets unsealed, in order. */
  async records(): Promise<OpenedRecord[]> {
    await this.flush();
    const out: OpenedRecord[] = [];
    for (const segment of await readSegments(this.#storage)) {
      for (const r of segment) {
        if (r.k === 'event') out.push({ ...r, event: decode(r.event, this.#sealer) as { type: string } });
        else if (r.k === 'end' || r.k === 'spawn') out.push(r);
        else out.push({ ...r, state: decode(r.state, this.#sealer) as { value: unknown; context: unknown; children: string[] } });
      }
    }
    return out;
  }

  /** Records dropped because storage kept failing (each loss is followed by a checkpoint). */
  get dropped(): number {
    return this.#dropped;
  }

  /** How many records are stored now (bounded by `maxRecords` plus one batch and a checkpoint). */
  get size(): number {
    return this.#stored;
  }

  /** Write the rest and stop recording. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
  }
}

async function readSegments(storage: StorageAdapter): Promise<JournalRecord[][]> {
  const chunks = await storage.loadRange(SEGMENTS);
  chunks.sort((x, y) => Number(x.key[2]) - Number(y.key[2]));
  const out: JournalRecord[][] = [];
  for (const c of chunks) {
    try {
      out.push(JSON.parse(fromUtf8(c.data)) as JournalRecord[]);
    } catch {
      // A torn segment cannot happen with an atomic adapter; skip rather than refuse the journal.
    }
  }
  return out;
}
