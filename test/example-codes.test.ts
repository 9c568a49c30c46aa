/**
 * Every example code a reader meets (README, ARCHITECTURE, docs/, JSDoc and error messages in src/,
 * the CLI's help and messages, the relay's, the web app's and the stories) is one our own parser
 * accepts, in words or in digits, so a copied example works and the examples cannot drift.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCode } from '../src/code/code.js';
import { parseDigits } from '../src/code/digits.js';

const ROOT = join(import.meta.dirname, '..');
/** Shaped like a code but not one: "a random 4-hex-digit tag". */
const NOT_CODES = new Set(['4-hex-digit']);

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && ext.test(d.name) && !d.parentPath.includes('node_modules'))
    .map((d) => join(d.parentPath, d.name));
}

const sources = [
  join(ROOT, 'README.md'),
  join(ROOT, 'ARCHITECTURE.md'),
  ...filesUnder('docs', /\.md$/),
  ...['src', 'cli', 'server', 'web/src', 'storybook'].flatMap((dir) => filesUnder(dir, /\.tsx?$/)),
];

describe('example codes', () => {
  const examples = sources.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\b\d+-[a-z]+-[a-z]+\b/g)]
      .map((m) => ({ file: relative(ROOT, file), code: m[0] }))
      .filter((e) => !NOT_CODES.has(e.code)),
  );

  /** The digit form (nameplate, a group of three digits per word, the check digit), e.g. in `accept --help`. */
  const digitExamples = sources.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\b\d+(?:-\d{3})+-\d\b/g)].map((m) => ({ file: relative(ROOT, file), code: m[0] })),
  );

  it('finds the examples (README, ARCHITECTURE, src, the CLI)', () => {
    for (const file of ['README.md', 'ARCHITECTURE.md', 'src/code/code.ts', 'cli/commands.ts'])
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

  it('every digit example parses, check digit included', () => {
    for (const file of ['docs/codes.md', 'cli/commands.ts'])
      expect(
        digitExamples.some((e) => e.file === file),
        file,
      ).toBe(true);
    const bad = digitExamples.flatMap(({ file, code }) => {
      try {
        parseDigits(code, { words: (code.match(/-\d{3}/g) ?? []).length });
        return [];
      } catch (err) {
        return [`${file}: ${code}: ${(err as Error).message}`];
      }
    });
    expect(bad).toEqual([]);
  });
});
