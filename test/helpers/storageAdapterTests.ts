/** runStorageAdapterTests(title, setup): the conformance cases as a vitest suite, for one adapter. */
import { describe, it } from 'vitest';
import type { StorageAdapter } from '../../src/effects/storage.js';
import { storageConformanceCases, storageResidueCases, type CrashResidue } from './storageConformance.js';

export interface AdapterUnderTest {
  adapter: StorageAdapter;
  teardown(): Promise<void>;
  /** Hooks for the crash-leftover cases, or why they do not apply to this adapter. */
  residue?: CrashResidue | string;
}

export function runStorageAdapterTests(title: string, setup: () => Promise<AdapterUnderTest>): void {
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
    for (const c of storageResidueCases) {
      it(c.name, async () => {
        const { adapter, teardown, residue } = await setup();
        try {
          if (typeof residue === 'object') await c.run(adapter, residue);
          else console.log(`${title}: "${c.name}" does not apply: ${residue ?? 'the adapter writes no temporary files'}`);
        } finally {
          await teardown();
        }
      });
    }
  });
}
