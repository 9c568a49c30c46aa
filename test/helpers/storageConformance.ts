/**
 * The storage adapter conformance cases, as plain async functions with no test-runner imports, so the
 * very same cases run under vitest in Node and inside real Chromium (bundled with esbuild).
 */
import type { StorageAdapter, StorageKey } from '../../src/effects/storage.js';

export interface ConformanceCase {
  name: string;
  run(adapter: StorageAdapter): Promise<void>;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
const bytes = (...xs: number[]) => Uint8Array.from(xs);
const same = (a: Uint8Array | undefined, b: Uint8Array) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);
const sorted = (keys: string[][]) => keys.map((k) => k.join('/')).sort();

export const storageConformanceCases: ConformanceCase[] = [
  {
    name: 'load of a missing key is undefined',
    async run(s) {
      check((await s.load(['nothing', 'here'])) === undefined, 'expected undefined');
    },
  },
  {
    name: 'save then load returns the same bytes; save again overwrites',
    async run(s) {
      await s.save(['a', 'one'], bytes(1, 2, 3));
      check(same(await s.load(['a', 'one']), bytes(1, 2, 3)), 'first value');
      await s.save(['a', 'one'], bytes(9));
      check(same(await s.load(['a', 'one']), bytes(9)), 'overwritten value');
    },
  },
  {
    name: 'stored values are copies: mutating the input or the output changes nothing',
    async run(s) {
      const input = bytes(5, 6, 7);
      await s.save(['copy', 'x'], input);
      input[0] = 0;
      const out = (await s.load(['copy', 'x']))!;
      out[1] = 0;
      check(same(await s.load(['copy', 'x']), bytes(5, 6, 7)), 'value changed under us');
    },
  },
  {
    name: 'empty and large values round-trip',
    async run(s) {
      await s.save(['size', 'empty'], new Uint8Array(0));
      check(same(await s.load(['size', 'empty']), new Uint8Array(0)), 'empty');
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      await s.save(['size', 'big'], big);
      check(same(await s.load(['size', 'big']), big), 'big');
    },
  },
  {
    name: 'remove deletes one key; removing a missing key is fine',
    async run(s) {
      await s.save(['rm', 'a'], bytes(1));
      await s.save(['rm', 'b'], bytes(2));
      await s.remove(['rm', 'a']);
      await s.remove(['rm', 'never']);
      check((await s.load(['rm', 'a'])) === undefined, 'a still there');
      check(same(await s.load(['rm', 'b']), bytes(2)), 'b gone');
    },
  },
  {
    name: 'loadRange returns exactly the keys under a prefix, at any depth',
    async run(s) {
      await s.save(['r', 'x', '1'], bytes(1));
      await s.save(['r', 'x', '2'], bytes(2));
      await s.save(['r', 'x', 'deep', '3'], bytes(3));
      await s.save(['r', 'xy'], bytes(4));
      await s.save(['other', '1'], bytes(5));
      const got = await s.loadRange(['r', 'x']);
      check(JSON.stringify(sorted(got.map((c) => c.key))) === JSON.stringify(['r/x/1', 'r/x/2', 'r/x/deep/3']), `got ${sorted(got.map((c) => c.key))}`);
      check(same(got.find((c) => c.key.join('/') === 'r/x/deep/3')?.data, bytes(3)), 'data of deep key');
      check((await s.loadRange(['nope'])).length === 0, 'missing prefix');
    },
  },
  {
    name: 'listKeys lists exactly the keys loadRange returns, without their values',
    async run(s) {
      await s.save(['lk', 'x', '1'], bytes(1));
      await s.save(['lk', 'x', 'deep', '2'], new Uint8Array(64 * 1024));
      await s.save(['lk', 'xy'], bytes(3));
      await s.save(['lk', 'solo'], bytes(4));
      const listed = await s.listKeys(['lk', 'x']);
      check(JSON.stringify(sorted(listed)) === JSON.stringify(['lk/x/1', 'lk/x/deep/2']), `got ${sorted(listed)}`);
      check(JSON.stringify(sorted(listed)) === JSON.stringify(sorted((await s.loadRange(['lk', 'x'])).map((c) => c.key))), 'differs from loadRange');
      check(
        listed.every((k) => Array.isArray(k) && k.every((seg) => typeof seg === 'string')),
        'keys are arrays of segments',
      );
      check(JSON.stringify(sorted(await s.listKeys(['lk', 'solo']))) === JSON.stringify(['lk/solo']), 'a key equal to the prefix');
      check(sorted(await s.listKeys([])).includes('lk/xy'), 'the empty prefix lists everything');
      check((await s.listKeys(['nope'])).length === 0, 'missing prefix');
      await s.remove(['lk', 'x', '1']);
      check(JSON.stringify(sorted(await s.listKeys(['lk', 'x']))) === JSON.stringify(['lk/x/deep/2']), 'a removed key is still listed');
    },
  },
  {
    name: 'removeRange removes the subtree and nothing else',
    async run(s) {
      await s.save(['rr', 'x', '1'], bytes(1));
      await s.save(['rr', 'x', 'y', '2'], bytes(2));
      await s.save(['rr', 'xz'], bytes(3));
      await s.removeRange(['rr', 'x']);
      check((await s.loadRange(['rr', 'x'])).length === 0, 'subtree left');
      check(same(await s.load(['rr', 'xz']), bytes(3)), 'sibling removed');
    },
  },
  {
    name: 'rejects unsafe keys with a typed error',
    async run(s) {
      for (const key of [[], ['..'], ['a/b'], [''], ['ok', 'x'.repeat(200)]] as string[][]) {
        let threw: unknown;
        try {
          await s.save(key, bytes(1));
        } catch (e) {
          threw = e;
        }
        check(threw && (threw as { code?: string }).code === 'INVALID_ARGUMENT', `key ${JSON.stringify(key)} was accepted`);
      }
    },
  },
  {
    name: 'concurrent saves to different keys all land',
    async run(s) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => s.save(['conc', String(i)], bytes(i))));
      const got = await s.loadRange(['conc']);
      check(got.length === 50, `expected 50, got ${got.length}`);
    },
  },
];

/**
 * What the cases about crash leftovers need from an adapter that writes through temporary files (a
 * filesystem); adapters without them say why the cases do not apply instead.
 */
export interface CrashResidue {
  /** Leave a temporary file beside `key`, as a save a crash interrupted before its rename would. */
  leaveTempFile(key: StorageKey, data: Uint8Array): Promise<void>;
  /** A fresh adapter on the same place: the restart after the crash. */
  reopen(): StorageAdapter;
  /** The temporary files present now, as paths. */
  tempFiles(): Promise<string[]>;
}

export interface ResidueCase {
  name: string;
  run(adapter: StorageAdapter, residue: CrashResidue): Promise<void>;
}

export const storageResidueCases: ResidueCase[] = [
  {
    name: 'temporary files a crash left behind are never values, and are swept on start',
    async run(s, residue) {
      await s.save(['t', 'a'], bytes(1));
      await residue.leaveTempFile(['t', 'a'], bytes(9, 9));
      await residue.leaveTempFile(['t', 'new', 'b'], bytes(8)); // a save into a directory it had just made
      check((await residue.tempFiles()).length === 2, 'the leftovers were not planted');
      const again = residue.reopen();
      const got = await again.loadRange(['t']);
      check(JSON.stringify(sorted(got.map((c) => c.key))) === JSON.stringify(['t/a']), `got ${sorted(got.map((c) => c.key))}`);
      check(same(await again.load(['t', 'a']), bytes(1)), 'the value under a leftover changed');
      const left = await residue.tempFiles();
      check(left.length === 0, `leftovers not swept: ${left.join(', ')}`);
      await again.save(['t', 'new', 'b'], bytes(7));
      check(same(await again.load(['t', 'new', 'b']), bytes(7)), 'a save where a leftover was');
    },
  },
];
