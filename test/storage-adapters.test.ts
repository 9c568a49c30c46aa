import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { runStorageAdapterTests } from './helpers/storageAdapterTests.js';

runStorageAdapterTests('memory', async () => ({ adapter: new MemoryStorage(), teardown: async () => {} }));
runStorageAdapterTests('node filesystem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bc-fs-'));
  return { adapter: new NodeFsStorage(dir), teardown: async () => rmSync(dir, { recursive: true, force: true }) };
});
