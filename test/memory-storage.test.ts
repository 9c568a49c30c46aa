/**
 * MemoryStorage keeps its entries in a tree of key segments (ranges visit only their subtree): any
 * sequence of operations answers exactly as a flat map scanned key by key, the model here, including
 * keys that are also prefixes of other keys and ranges removed then written again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

/** Short keys over few segments, so prefixes, overlaps and repeats are common. */
const key = (min: number) => fc.array(fc.constantFrom('a', 'b'), { minLength: min, maxLength: 3 });
const op = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('save' as const), key: key(1), value: fc.nat(255) }), weight: 4 },
  fc.record({ type: fc.constant('remove' as const), key: key(1) }),
  fc.record({ type: fc.constant('removeRange' as const), key: key(0) }),
  fc.record({ type: fc.constant('loadRange' as const), key: key(0) }),
  fc.record({ type: fc.constant('load' as const), key: key(1) }),
);

const under = (k: string, p: string) => p === '' || k === p || k.startsWith(p + '/');
const sorted = (keys: string[][]) => keys.map((k) => k.join('/')).sort();

describe('MemoryStorage', () => {
  it(
    'answers every sequence of operations as a flat map does',
    async () => {
      const branches = new Branches('memory storage', ['range hit', 'range empty', 'key also a prefix', 'range removed', 'size back to 0'] as const);
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
          const storage = new MemoryStorage();
          const model = new Map<string, number>();
          for (const o of ops) {
            const p = o.key.join('/');
            if (o.type === 'save') {
              await storage.save(o.key, new Uint8Array([o.value]));
              model.set(p, o.value);
            } else if (o.type === 'remove') {
              await storage.remove(o.key);
              model.delete(p);
            } else if (o.type === 'removeRange') {
              const had = [...model.keys()].some((k) => under(k, p));
              await storage.removeRange(o.key);
              for (const k of [...model.keys()]) if (under(k, p)) model.delete(k);
              if (had) branches.hit('range removed');
              if (had && model.size === 0) branches.hit('size back to 0');
            } else if (o.type === 'load') {
              expect((await storage.load(o.key))?.[0]).toBe(model.get(p));
            } else {
              const chunks = await storage.loadRange(o.key);
              const want = [...model].filter(([k]) => under(k, p));
              expect(sorted(chunks.map((c) => c.key))).toEqual(want.map(([k]) => k).sort());
              for (const c of chunks) expect(c.data[0]).toBe(model.get(c.key.join('/')));
              expect(sorted(await storage.listKeys(o.key))).toEqual(want.map(([k]) => k).sort());
              branches.hit(want.length > 0 ? 'range hit' : 'range empty');
              if (want.some(([k]) => want.some(([j]) => j !== k && j.startsWith(k + '/')))) branches.hit('key also a prefix');
            }
            expect(storage.size).toBe(model.size);
          }
          expect(sorted(await storage.listKeys([]))).toEqual([...model.keys()].sort());
        }),
        { numRuns: FC_RUNS },
      );
      branches.check();
    },
    budgetMs(FC_RUNS, 20),
  );
});
