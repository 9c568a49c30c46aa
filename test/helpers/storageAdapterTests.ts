/** runStorageAdapterTests(title, setup): the conformance cases as a vitest suite, for one adapter. */
import { describe, it } from 'vitest';
import type { StorageAdapter } from '../../src/effects/storage.js';
import { storageConformanceCases } from './storageConformance.js';

export function runStorageAdapterTests(title: string, setup: () => Promise<{ adapter: StorageAdapter; teardown(): Promise<void> }>): void {
  describe(`StorageAdapter conformance: ${title}`, () => {
    for (const c of storageConformanceCases) {
      it(c.name, async () => {
        const { adapter, teardown } = await setup();
        try {
          await c.run(adapter);
        } finally {
          await teardown();
        }
      });
    }
  });
}
