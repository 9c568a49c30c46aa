/** Bundled for Chromium: runs the storage conformance cases against the browser adapters. */
import { LocalforageStorage } from '../../src/adapters/localforageStorage.js';
import { OpfsStorage } from '../../src/adapters/opfsStorage.js';
import type { StorageAdapter } from '../../src/effects/storage.js';
import { storageConformanceCases } from '../helpers/storageConformance.js';

const adapters: Record<string, (name: string) => StorageAdapter> = {
  localforage: (name) => new LocalforageStorage(name),
  opfs: (name) => new OpfsStorage(name),
};

declare global {
  interface Window {
    runConformance(adapter: string): Promise<{ name: string; ok: boolean; error?: string }[]>;
    persist(adapter: string, step: 'write' | 'read'): Promise<string>;
  }
}

window.runConformance = async (adapter) => {
  const results: { name: string; ok: boolean; error?: string }[] = [];
  let n = 0;
  for (const c of storageConformanceCases) {
    const storage = adapters[adapter]!(`conformance-${n++}`);
    try {
      await c.run(storage);
      results.push({ name: c.name, ok: true });
    } catch (err) {
      results.push({ name: c.name, ok: false, error: String((err as Error)?.stack ?? err) });
    } finally {
      await storage.removeRange([]).catch(() => {});
    }
  }
  return results;
};

/** Survives a page reload: write before, read after. */
window.persist = async (adapter, step) => {
  const storage = adapters[adapter]!('persist');
  if (step === 'write') {
    await storage.save(['p', 'k'], new TextEncoder().encode(`kept by ${adapter}`));
    return 'written';
  }
  const v = await storage.load(['p', 'k']);
  return v ? new TextDecoder().decode(v) : 'missing';
};
