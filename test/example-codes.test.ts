/**
 * Every example code a reader meets (README, ARCHITECTURE, docs/, JSDoc and error messages in src/)
 * is one our own parser accepts, so a copied example works and the examples cannot drift.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCode } from '../src/code/code.js';

const ROOT = join(import.meta.dirname, '..');
/** Shaped like a code but not one: "a random 4-hex-digit tag". */
const NOT_CODES = new Set(['4-hex-digit']);

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith(ext))
    .map((d) => join(d.parentPath, d.name));
}

const sources = [join(ROOT, 'README.md'), join(ROOT, 'ARCHITECTURE.md'), ...filesUnder('docs', '.md'), ...filesUnder('src', '.ts')];

describe('example codes', () => {
  const examples = sources.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\b\d+-[a-z]+-[a-z]+\b/g)]
      .map((m) => ({ file: relative(ROOT, file), code: m[0] }))
      .filter((e) => !NOT_CODES.has(e.code)),
  );

  it('finds the examples (README, ARCHITECTURE, src)', () => {
    for (const file of ['README.md', 'ARCHITECTURE.md', 'src/code/code.ts'])
      expect(
        examples.some((e) => e.file === file),
        file,
      ).toBe(true);
  });

  it('every example parses as a two-word code', () => {
    const bad = examples.flatMap(({ file, code }) => {
      try {
        parseCode(code, { words: 2 });
        return [];
      } catch (err) {
        return [`${file}: ${code}: ${(err as Error).message}`];
      }
    });
    expect(bad).toEqual([]);
  });
});
