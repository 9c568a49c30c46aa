/**
 * Every ```ts block in the README and the guides compiles against the package as a user imports it
 * (`@backchannel/sdk/…` resolved through package.json "exports" to the sources), so a guide's code
 * cannot drift from the API. A block that is only a fragment starts with the visible line
 * `// fragment: not compiled` and is listed as skipped.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const FRAGMENT = '// fragment: not compiled';

interface Block {
  file: string;
  /** The line of the opening fence, 1-based. */
  line: number;
  code: string;
}

/** The ```ts (or ```typescript) blocks of a Markdown text. */
function tsBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(ts|typescript)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.startsWith(indent! + fence!); j++) body.push(lines[j]!.slice(indent!.length));
    blocks.push({ file, line: i + 1, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** `@backchannel/sdk/<subpath>` → its source file, from package.json "exports". */
function exportPaths(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { types: string }> };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    const source = target.types.replace(/^\.\/dist\//, './').replace(/\.d\.ts$/, '.ts');
    paths[pkg.name + subpath.slice(1)] = [join(ROOT, source)];
  }
  return paths;
}

const guides = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const blocks = guides.flatMap((file) => tsBlocks(file, readFileSync(join(ROOT, file), 'utf8')));

describe('code in the guides', () => {
  it('finds the blocks (README and every guide with TypeScript in it)', () => {
    for (const file of ['README.md', 'docs/getting-started.md', 'docs/embedding.md', 'docs/inspector.md'])
      expect(
        blocks.some((b) => b.file === file),
        file,
      ).toBe(true);
  });

  it('every ```ts block compiles against the package', { timeout: 300_000 }, () => {
    const dir = join(ROOT, '.tmp', 'docs-code');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const compiled = new Map<string, Block>();
    const skipped = blocks.filter((b) => b.code.trimStart().startsWith(FRAGMENT));
    for (const [i, block] of blocks.entries()) {
      if (skipped.includes(block)) continue;
      const name = join(dir, `${block.file.replace(/\W/g, '_')}_${block.line}_${i}.ts`);
      // Each block is a module of its own (top-level await, no clashes between blocks).
      writeFileSync(name, `${block.code}\nexport {};\n`);
      compiled.set(name, block);
    }
    for (const b of skipped) console.log(`skipped (marked "${FRAGMENT}"): ${b.file}:${b.line}`);
    console.log(`compiling ${compiled.size} blocks from ${guides.length} files; ${skipped.length} fragments skipped`);

    const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const options: ts.CompilerOptions = { ...config.options, noEmit: true, noUnusedLocals: false, paths: exportPaths(), rootDir: undefined, outDir: undefined };
    const program = ts.createProgram([...compiled.keys()], options);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && compiled.has(d.file.fileName))
      .map((d) => {
        const block = compiled.get(d.file!.fileName)!;
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `${block.file}:${block.line + 1 + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    // Outside the guides' own code, nothing may be wrong either (a broken import would show there first).
    const elsewhere = ts.getPreEmitDiagnostics(program).filter((d) => !d.file || !compiled.has(d.file.fileName));
    expect(elsewhere.map((d) => `${d.file ? relative(ROOT, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
