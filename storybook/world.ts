/**
 * Stories' scenes: devices on a MemoryRelay with in-memory storage, each with the web app's own UI
 * machine and its real effects (web/src/uiActors.ts), driven to a state by the events a person sends.
 */
import type { BackchannelOptions, StorageAdapter, StorageKey } from '@backchannel/sdk';
import { MemoryStorage } from '@backchannel/sdk/testing';
import { createActor, waitFor, type SnapshotFrom } from 'xstate';
import { Device } from '../web/src/device.js';
import { memoryStore, storagePrefs, type Prefs } from '../web/src/prefs.js';
import { uiActors } from '../web/src/uiActors.js';
import { uiMachine, type PairedContact, type UiActor } from '../web/src/uiMachine.js';
import { MemoryRelay, RELAY_URL } from './memoryRelay.js';

export interface Person {
  name: string;
  device: Device;
  prefs: Prefs;
  /** The device's storage: `hold()` it to catch a scene mid-save (renaming, removing, naming). */
  storage: HeldStorage;
}

/**
 * Memory storage that can be held: while held, writes wait (they finish on `release`), so a story can
 * show the in-between state a slow disk shows for a moment — the machines are really waiting in it.
 */
export class HeldStorage implements StorageAdapter {
  readonly inner = new MemoryStorage();
  #held: (() => void)[] | undefined;
  hold(): void {
    this.#held ??= [];
  }
  release(): void {
    const waiting = this.#held ?? [];
    this.#held = undefined;
    for (const go of waiting) go();
  }
  async #turn(): Promise<void> {
    if (this.#held) await new Promise<void>((resolve) => this.#held!.push(resolve));
  }
  load(key: StorageKey) {
    return this.inner.load(key);
  }
  loadRange(prefix: StorageKey) {
    return this.inner.loadRange(prefix);
  }
  listKeys(prefix: StorageKey) {
    return this.inner.listKeys(prefix);
  }
  async save(key: StorageKey, data: Uint8Array) {
    await this.#turn();
    return this.inner.save(key, data);
  }
  async remove(key: StorageKey) {
    await this.#turn();
    return this.inner.remove(key);
  }
  async removeRange(prefix: StorageKey) {
    await this.#turn();
    return this.inner.removeRange(prefix);
  }
}

export interface Scene {
  ui: UiActor;
  prefs: Prefs;
}

const STORY_TIMEOUT_MS = 20_000;

export class World {
  readonly relay: MemoryRelay;
  constructor(relay = new MemoryRelay()) {
    this.relay = relay;
  }

  options(extra: Partial<BackchannelOptions> = {}): BackchannelOptions {
    return { storage: new HeldStorage(), connector: this.relay.connector, relay: RELAY_URL, discoverTimeouts: { reconnectBaseMs: 50 }, ...extra };
  }

  /** A device that has been through first start (named), unless `named` is false. */
  async person(name: string, { named = true, ...extra }: Partial<BackchannelOptions> & { named?: boolean } = {}): Promise<Person> {
    const prefs = storagePrefs(memoryStore());
    if (named) prefs.setDeviceName(name);
    const storage = new HeldStorage();
    const device = await Device.open(this.options({ storage, ...extra }));
    return { name, device, prefs, storage };
  }

  /** Pair two people through the real pairing (each names the other); resolves with both cards. */
  async pair(a: Person, b: Person): Promise<[PairedContact, PairedContact]> {
    const { code, done } = await a.device.bc.invite({ moniker: b.name });
    const [onA, onB] = await Promise.all([done, b.device.bc.accept(code, { moniker: a.name })]);
    return [onA, onB];
  }
}

/** The UI machine for `person`, started and past opening. */
export async function sceneOf(person: Person, options: { pendingCode?: string; open?: () => Promise<Device>; inviteRefreshMs?: number } = {}): Promise<Scene> {
  const ui = createActor(
    uiMachine.provide({
      actors: uiActors({ open: options.open ?? (async () => person.device), inviteRefreshMs: options.inviteRefreshMs, wipe: async () => {} }),
    }),
    { input: { prefs: person.prefs, pendingCode: options.pendingCode } },
  );
  ui.start();
  return { ui, prefs: person.prefs };
}

/** `person`'s scene, past the contact list, on the chat with `contactId`. */
export async function chatSceneOf(person: Person, contactId: string): Promise<Scene> {
  const scene = await sceneOf(person);
  await until(scene.ui, (s) => s.matches('contacts'));
  scene.ui.send({ type: 'OPEN_CHAT', contactId });
  return scene;
}

/** Wait (bounded) until the scene's UI machine gets where the story shows it. */
export async function until(ui: UiActor, check: (s: SnapshotFrom<typeof uiMachine>) => boolean): Promise<void> {
  await waitFor(ui, check, { timeout: STORY_TIMEOUT_MS });
}

/** Wait (bounded) for a condition on the devices (a message arrived, the relay status changed). */
export async function settle(check: () => boolean, device: Device): Promise<void> {
  if (check()) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error('the scene did not settle'))), STORY_TIMEOUT_MS);
    const off = device.subscribe(() => {
      if (!check()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
