import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage, TEMP_PREFIX } from '../src/adapters/nodeFsStorage.js';
import { runStorageAdapterTests } from './helpers/storageAdapterTests.js';

runStorageAdapterTests('memory', async () => ({
  adapter: new MemoryStorage(),
  teardown: async () => {},
  residue: 'memory storage writes no temporary files',
}));
runStorageAdapterTests('node filesystem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bc-fs-'));
  return {
    adapter: new NodeFsStorage(dir),
    teardown: async () => rmSync(dir, { recursive: true, force: true }),
    residue: {
      async leaveTempFile(key, data) {
        const at = join(dir, dirname(join(...key)), `${TEMP_PREFIX}${key.join('-')}`);
        mkdirSync(dirname(at), { recursive: true });
        writeFileSync(at, data);
      },
      reopen: () => new NodeFsStorage(dir),
      async tempFiles() {
        return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => p.split(/[\\/]/).pop()!.startsWith(TEMP_PREFIX));
      },
    },
  };
});
