/** A device in sync tests: a Database on its own storage, that can crash (drop memory) and restart. */
import { createActor, type Actor } from 'xstate';
import { MemoryStorage } from '../../src/adapters/memoryStorage.js';
import type { Transport } from '../../src/effects/transport.js';
import type { RandomBytes } from '../../src/effects/random.js';
import { Database } from '../../src/db/database.js';
import type { DocId } from '../../src/db/documentStore.js';
import type { Trust } from '../../src/db/peerRules.js';
import { syncMachine } from '../../src/machines/syncMachine.js';

export class Replica {
  readonly storage = new MemoryStorage();
  db!: Database;
  readonly syncs = new Set<Actor<typeof syncMachine>>();
  readonly #randomBytes?: RandomBytes;

  constructor(randomBytes?: RandomBytes) {
    this.#randomBytes = randomBytes;
  }

  async start(): Promise<this> {
    this.db = await Database.open({ storage: this.storage, randomBytes: this.#randomBytes, compactEvery: 8 });
    return this;
  }

  /** Lose everything in memory, then come back from storage. */
  async crashAndRestart(): Promise<void> {
    for (const s of this.syncs) s.stop();
    this.syncs.clear();
    this.db.docs.close();
    await this.start();
  }

  /** Sync `docIds` over `channel`; the peer is a contact unless `trust` says it is another own device. */
  sync(channel: Transport, docIds: DocId[], trust?: Trust): Actor<typeof syncMachine> {
    const actor = createActor(syncMachine, {
      input: { docs: this.db.docs, storage: this.storage, channel, deviceId: this.db.deviceId, docIds, trust },
    });
    this.syncs.add(actor);
    actor.subscribe({ complete: () => this.syncs.delete(actor) });
    actor.start();
    return actor;
  }
}
