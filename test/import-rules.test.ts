/**
 * The architecture's layering, held against the actual imports (parsed by the TypeScript compiler,
 * not by regexes):
 * - the machines are pure definitions: nothing they reach imports an adapter, the relay, the CLI or
 *   a Node built-in, nor the promise APIs built on top of them (src/pair.ts, src/app/); that holds for
 *   every file that defines a machine, wherever it lives (src/depot/depotMachine.ts too);
 * - time comes from the injected Clock: no global timer or wall clock in src/ outside the adapters and
 *   the system clock itself (src/effects/clock.ts);
 * - src/crypto/ is pure: @noble/*, tweetnacl, its own files and the typed errors (a leaf);
 * - the core (src/ outside adapters/ and the entry barrels) never imports an adapter;
 * - nothing in src/ imports server/ or cli/;
 * - every isomorphic entry bundles for `platform: 'browser'` without a Node built-in;
 * - the web app (web/) and Storybook (storybook/) use the SDK as a host would: `@backchannel/sdk` and
   its public subpaths, never its files.
 *
 * Violations that exist today and are being fixed sit in ALLOWED_TODAY, one import each, with the
 * issue that removes it; the test fails if an allowed import disappears, so the list only shrinks.
 */
import { build, type Message } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/processes.js';

/** [importer, imported, why it is still there]. Remove an entry once its issue is merged. */
const ALLOWED_TODAY: readonly (readonly [string, string, string])[] = [];

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || NODE_BUILTINS.has(specifier);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every import of a file (static, dynamic, `export … from`, type-only): repo paths for relative ones. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map(({ fileName }) =>
    fileName.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), fileName)).replace(/\.js$/, '.ts') : fileName,
  );
}

const FILES = [...sourceFiles('src'), ...sourceFiles('server'), ...sourceFiles('cli')];
const allowed = (from: string, to: string) => ALLOWED_TODAY.some(([f, t]) => f === from && t === to);
/** The import graph without today's allowed exceptions. */
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f).filter((to) => !allowed(f, to))]));

/** Everything `file` reaches through relative imports (bare specifiers included, not followed). */
function reachable(file: string): Map<string, string> {
  const via = new Map<string, string>(); // reached → the file that imports it
  const queue = [file];
  while (queue.length > 0) {
    const f = queue.shift()!;
    for (const to of GRAPH.get(f) ?? []) {
      if (via.has(to) || to === file) continue;
      via.set(to, f);
      if (GRAPH.has(to)) queue.push(to);
    }
  }
  return via;
}

/** The public entries' sources, from package.json "exports" (dist/x.js → x.ts). */
const ENTRIES: string[] = Object.values(
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports as Record<string, string | { import: string }>,
).flatMap((e) => (typeof e === 'string' ? [] : [e.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')]));
const BROWSER_ENTRIES = ENTRIES.filter((e) => e.startsWith('src/') && e !== 'src/adapters/node.ts');

/** The SDK's public import names: `@backchannel/sdk` and `@backchannel/sdk/<subpath>` per "exports". */
const PUBLIC_NAMES = new Set(
  Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports as Record<string, unknown>).map((k) =>
    k === '.' ? '@backchannel/sdk' : `@backchannel/sdk/${k.slice(2)}`,
  ),
);

/** The faces' own files (.ts and .tsx), node_modules aside. */
function faceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : faceFiles(path);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every file that defines an XState machine (`setup({…})` from xstate), and the rest of src/machines/. */
const MACHINES = FILES.filter(
  (f) =>
    f.startsWith('src/') &&
    !ENTRIES.includes(f) &&
    (f.startsWith('src/machines/') || (importsOf(f).includes('xstate') && /\bsetup\(\{/.test(readFileSync(join(ROOT, f), 'utf8')))),
);

/** Where `file` reads the time or sets a timer without the injected Clock: `setTimeout(…)`, `Date.now()`, `new Date()`… */
function globalTimeIn(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  // Not queueMicrotask: a microtask runs before any time passes, on a simulated clock as on the real one.
  const TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval']);
  const found: string[] = [];
  const at = (node: ts.Node) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText().slice(0, 60)}`;
  /** `x` or `globalThis.x` / `window.x` / `self.x`: the global, not a clock's method. */
  const globalName = (e: ts.Expression): string | undefined => {
    if (ts.isIdentifier(e)) return e.text;
    if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression) && ['globalThis', 'window', 'self'].includes(e.expression.text)) return e.name.text;
    return undefined;
  };
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const name = globalName(node.expression);
      if (name && TIMERS.has(name)) found.push(at(node));
      const callee = node.expression;
      if (ts.isPropertyAccessExpression(callee) && ['now'].includes(callee.name.text) && ['Date', 'performance'].includes(globalName(callee.expression) ?? ''))
        found.push(at(node));
    }
    if (ts.isNewExpression(node) && globalName(node.expression) === 'Date' && (node.arguments?.length ?? 0) === 0) found.push(at(node));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('import rules', () => {
  it('every public entry exists and is checked', () => {
    expect(ENTRIES).toContain('src/index.ts');
    for (const e of ENTRIES) expect(FILES, e).toContain(e);
  });

  it('every allowed exception is still there (remove it from ALLOWED_TODAY once fixed)', () => {
    for (const [from, to, why] of ALLOWED_TODAY) expect(importsOf(from), `${from} → ${to} (${why})`).toContain(to);
  });

  it('machines reach no adapter, relay, CLI, Node built-in or promise API', () => {
    const bad: string[] = [];
    expect(MACHINES).toContain('src/depot/depotMachine.ts');
    for (const m of MACHINES) {
      for (const [to, from] of reachable(m)) {
        const forbidden = /^(src\/adapters|server|cli|src\/app)\//.test(to) || to === 'src/pair.ts' || isBuiltin(to);
        if (forbidden) bad.push(`${m} reaches ${to} (imported by ${from})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('src/crypto/ is pure: @noble/*, tweetnacl, its own files and the typed errors', () => {
    const bad: string[] = [];
    for (const f of FILES.filter((x) => x.startsWith('src/crypto/'))) {
      for (const to of GRAPH.get(f)!) {
        if (!(to.startsWith('@noble/') || to === 'tweetnacl' || to.startsWith('src/crypto/') || to === 'src/errors.ts')) bad.push(`${f} → ${to}`);
      }
    }
    expect(bad).toEqual([]);
    expect(GRAPH.get('src/errors.ts'), 'src/errors.ts stays a leaf').toEqual([]);
  });

  it('the core never imports an adapter', () => {
    // The façade and the one-shot connect API wire the defaults a host would otherwise pass in
    // (openWebRtcTransport); everything under them receives its adapters.
    const wiring = (f: string) => f.startsWith('src/app/') || f === 'src/discover/connect.ts';
    const core = FILES.filter((f) => f.startsWith('src/') && !f.startsWith('src/adapters/') && !ENTRIES.includes(f) && !wiring(f));
    const bad = core.flatMap((f) =>
      GRAPH.get(f)!
        .filter((to) => to.startsWith('src/adapters/'))
        .map((to) => `${f} → ${to}`),
    );
    expect(bad).toEqual([]);
  });

  it('the web app and Storybook import the SDK only by its public names', () => {
    const files = [...faceFiles('web'), ...faceFiles('storybook')];
    expect(files).toContain('web/src/main.tsx');
    const bad = files.flatMap((f) =>
      importsOf(f)
        .filter((to) => /^(src|server|cli|browser)\//.test(to) || (to.startsWith('@backchannel/sdk') && !PUBLIC_NAMES.has(to)))
        .map((to) => `${f} → ${to}`),
    );
    expect(bad).toEqual([]);
  });

  it('no global timer or wall clock in src/ outside the adapters and the system clock', () => {
    const core = FILES.filter((f) => f.startsWith('src/') && !f.startsWith('src/adapters/') && f !== 'src/effects/clock.ts');
    expect(core).toContain('src/journal/journal.ts');
    expect(core.flatMap(globalTimeIn)).toEqual([]);
    // The check itself finds what it looks for: the system clock and the adapters do use the globals.
    expect(globalTimeIn('src/effects/clock.ts').join('\n')).toMatch(/setTimeout\(fn, ms\)[\s\S]*Date\.now\(\)/);
    expect(globalTimeIn('src/adapters/nodeTcp.ts').length).toBeGreaterThan(0);
  });

  it('nothing in src/ imports server/ or cli/', () => {
    const bad = FILES.filter((f) => f.startsWith('src/')).flatMap((f) =>
      GRAPH.get(f)!
        .filter((to) => to.startsWith('server/') || to.startsWith('cli/'))
        .map((to) => `${f} → ${to}`),
    );
    expect(bad).toEqual([]);
  });

  it.each(BROWSER_ENTRIES)('%s bundles for the browser without a Node built-in', async (entry) => {
    // esbuild refuses a Node built-in for platform 'browser' unless the package maps it away (tweetnacl's
    // "browser" field does, for its optional require('crypto')); its errors name the importer.
    const result = await build({
      entryPoints: [join(ROOT, entry)],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    }).catch((err: { errors?: Message[] }) => ({ errors: err.errors ?? [], metafile: undefined }));
    const problems = result.errors.map((e) => `${e.location?.file ?? '?'}: ${e.text}`);
    expect(problems).toEqual([]);
    const inputs = Object.keys(result.metafile!.inputs);
    expect(inputs.filter((i) => isBuiltin(i) || /^(server|cli)\//.test(i))).toEqual([]);
  });
});
