/**
 * One open device: the SDK's Backchannel plus what the screens need to re-render when it changes.
 * The app machine's state comes from `getSnapshot()`; changes are noticed through the façade's own
 * streams — `subscribe()` (messages, presence, relay) and the redacted inspection stream (every state
 * change of every actor), which the developer panel shows as it is.
 */
import { createBackchannel, type Backchannel, type BackchannelEvent, type BackchannelOptions, type InspectOption } from '@backchannel/sdk';
import type { InspectionEvent } from 'xstate';

/** How a file's bytes last moved, from the SDK's `transfer` events (by file hash). */
export type Transfer = Omit<Extract<BackchannelEvent, { type: 'transfer' }>, 'type'>;

/** Where Device.transfers keeps a file's transfer with one contact. */
export const transferKey = (contactId: string, hash: string) => `${contactId}:${hash}`;

/** The redacted inspection events kept for the developer panel (the newest last). */
export const MAX_INSPECTION_EVENTS = 500;

export class Device {
  readonly bc: Backchannel;
  readonly #listeners = new Set<() => void>();
  readonly inspection: InspectionEvent[];
  /**
   * Per contact, what the relay's depot last said while the contact was away: it keeps everything up
   * to a message for them, or it refused (quota, size). Cleared when the contact is back.
   */
  readonly depot = new Map<string, { kept: string | undefined } | { refused: string }>();
  /**
   * Per contact and file hash (transferKey), its last `transfer` event since this page opened. The SDK has no call for a file's
   * state, so after a reload a file shows as complete (openFile finds it) or not yet received.
   */
  readonly transfers = new Map<string, Transfer>();
  /** Files this page sent (transferKey) that no `transfer` event has mentioned yet: stored here, waiting to go. */
  readonly sentHere = new Set<string>();
  /** Bumped on every change: what React's useSyncExternalStore compares. */
  version = 0;
  #queued = false;

  private constructor(bc: Backchannel, inspection: InspectionEvent[], hook: { notify?: () => void }) {
    this.bc = bc;
    this.inspection = inspection;
    hook.notify = () => this.#changed();
    bc.subscribe((e) => {
      if (e.type === 'deposited') this.depot.set(e.contactId, { kept: e.upTo?.id });
      else if (e.type === 'refused') this.depot.set(e.contactId, { refused: e.reason });
      else if (e.type === 'presence' && e.via) this.depot.delete(e.contactId);
      else if (e.type === 'transfer') {
        const { type: _, ...transfer } = e;
        this.transfers.set(transferKey(e.contactId, e.hash), transfer);
      }
      this.#changed();
    });
  }

  /** Open with `options` (storage, connector, relay…); the inspection stream feeds this device. */
  static async open(options: BackchannelOptions & { inspect?: InspectOption }): Promise<Device> {
    const inspection: InspectionEvent[] = [];
    const hook: { notify?: () => void } = {};
    const bc = await createBackchannel({
      ...options,
      inspect: (event: InspectionEvent) => {
        inspection.push(event);
        if (inspection.length > MAX_INSPECTION_EVENTS) inspection.splice(0, inspection.length - MAX_INSPECTION_EVENTS);
        hook.notify?.();
        const outer = options.inspect;
        if (typeof outer === 'function') outer(event);
        else outer?.next?.(event);
      },
    });
    return new Device(bc, inspection, hook);
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** Something the screens show changed outside the SDK's events (e.g. a transfer cancelled before it started). */
  changed(): void {
    this.#changed();
  }

  /** Coalesce a burst of events into one re-render. */
  #changed(): void {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.version++;
      for (const l of this.#listeners) l();
    });
  }
}
