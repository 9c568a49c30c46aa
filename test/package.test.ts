/**
 * The packages as users get them: `npm pack` of `@backchannel/sdk` (which builds with
 * tsconfig.build.json) and of `@backchannel/cli` (packages/cli), then three fresh projects:
 * - a browser app that installs the SDK alone: none of ws, ioredis, localforage, cli-progress, yazl,
 *   yauzl in `npm ls --all`; without ws, `nodeSocketConnector()` on a Node with no global WebSocket
 *   throws typed, saying what to install, and the CLI entry says the same in one line; with a global
 *   WebSocket the README quick start runs on it;
 * - a Node app that installs the SDK and `ws`: (a) compile the README's quick start, unchanged, in a
 *   strict TypeScript project without the DOM lib and run it against the packaged relay on 127.0.0.1:
 *   two devices pair and a message arrives; every entry loads without the other optional peers, and
 *   `startRelay({ redis })` without ioredis says what to install;
 * - a project that installs both tarballs: `npx backchannel --version`, and `backchannel relay` is the
 *   relay the others use;
 * then, in the browser app, (b) type-check docs/bundlers.md's browser app strictly with its tsconfig
 * (`rtc: window` as documented), serve it with Vite, unconfigured, under the dev server and from
 * `vite build`, and open each in real Chromium: a device opens on OPFS and gets a code from the relay;
 * (c) bundle the same app with docs/bundlers.md's esbuild script and open it in Chromium.
 * The code blocks are read from README.md and docs/bundlers.md, so the docs cannot drift from this.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './helpers/chromium.js';
import { freePort, ROOT, run, type RelayProcess } from './helpers/processes.js';

const execFileAsync = promisify(execFile);
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types: string; import: string }>;
};
const CLI = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};
/** Entries whose optional peer dependency (localforage, ioredis) the Node app does not install. */
const NEEDS_PEER = new Set(['./adapters/localforage', './server/redis']);
/** What a browser app must not get by installing the SDK: Node's and the CLI's dependencies. */
const NOT_FOR_BROWSERS = ['ws', 'ioredis', 'localforage', 'cli-progress', 'yazl', 'yauzl'];

const log = (message: string) => console.log(`[package] ${message}`);

async function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 600_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd, env: { ...process.env, ...env }, timeout, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string; killed?: boolean };
    const why = e.killed ? `still running after ${timeout / 1000} s, killed` : e.message;
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${why}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The fenced block in `markdown` after `heading` (the first in `lang`, when given), or whose first line is `// <name>`. */
export function codeBlock(markdown: string, where: { heading: string; lang?: string } | { file: string }): string {
  const blocks = [...markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ at: m.index, lang: m[1], body: m[2]! }));
  if ('file' in where) {
    const block = blocks.find((b) => b.body.startsWith(`// ${where.file}\n`));
    if (!block) throw new Error(`no code block starting with "// ${where.file}"`);
    return block.body;
  }
  const at = markdown.indexOf(`\n${where.heading}\n`);
  const block = blocks.find((b) => at >= 0 && b.at > at && (where.lang === undefined || b.lang === where.lang));
  if (!block) throw new Error(`no code block after "${where.heading}"`);
  return block.body;
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

type LsTree = { version?: string; missing?: boolean; dependencies?: Record<string, LsTree> };

/** Every installed package's name in `npm ls --all --json`'s tree (it lists unmet optional peers as `missing`). */
function namesIn(tree: LsTree, into = new Set<string>()): Set<string> {
  for (const [name, child] of Object.entries(tree.dependencies ?? {})) {
    if (child.missing || child.version === undefined) continue;
    into.add(name);
    namesIn(child, into);
  }
  return into;
}

describe('the packed packages', () => {
  let dir: string;
  let app: string; // the Node app: the SDK and ws
  let webApp: string; // the browser app: the SDK alone
  let cliApp: string; // the SDK and the CLI
  let files: string[];
  let cliFiles: string[];
  let webAppPackages: Set<string>;
  let relay: RelayProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bc-package-'));
    app = join(dir, 'app');
    webApp = join(dir, 'web-app');
    cliApp = join(dir, 'cli-app');
    // A copy of what the package is made from, so building it leaves this checkout's dist/ (which
    // other test files run from) alone; `npm pack` builds it there (prepack: tsconfig.build.json).
    const stage = join(dir, 'stage');
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'docs', 'bin', 'browser', 'src', 'server', 'cli']) {
      cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
    const pack = async (from: string) => {
      const report = await sh('npm', ['pack', '--json', '--pack-destination', dir], from);
      const packed = JSON.parse(report.slice(report.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
      log(`${packed[0]!.filename}: ${packed[0]!.files.length} files`);
      return { tarball: join(dir, packed[0]!.filename), files: packed[0]!.files.map((f) => f.path) };
    };
    log(`npm pack (its prepack builds with tsconfig.build.json) in ${stage}`);
    const sdk = await pack(stage);
    files = sdk.files;
    const cli = await pack(join(ROOT, 'packages/cli'));
    cliFiles = cli.files;
    /** A fresh project that installs `specs` from npm's cache (--offline), as a user would. */
    const project = async (at: string, specs: string[]) => {
      write(join(at, 'package.json'), JSON.stringify({ name: `fresh-${basename(at)}`, private: true, type: 'module' }, null, 2));
      const install = (mode: string) => sh('npm', ['install', mode, '--no-audit', '--no-fund', ...specs], at);
      await install('--offline').catch((err: Error) => {
        // A cold cache (no metadata for a dependency yet): let npm fetch only what is missing.
        log(`not all in npm's cache (${err.message.split('\n')[0]}); retrying with --prefer-offline`);
        return install('--prefer-offline');
      });
    };
    const ws = `ws@${JSON.parse(readFileSync(join(ROOT, 'node_modules/ws/package.json'), 'utf8')).version}`;
    log(`installing into fresh projects: the SDK alone; the SDK and ${ws}; the SDK and the CLI`);
    await project(webApp, [sdk.tarball]);
    await project(app, [sdk.tarball, ws]);
    await project(cliApp, [sdk.tarball, cli.tarball]);
    // What the browser app installed, before its dev tools are linked in below.
    webAppPackages = namesIn(JSON.parse(await sh('npm', ['ls', '--all', '--json'], webApp)) as LsTree);
    // The apps' own dev tools, as they would have installed them: this checkout's TypeScript, Node types, Vite, esbuild.
    for (const at of [app, webApp]) {
      mkdirSync(join(at, 'node_modules/@types'), { recursive: true });
      for (const tool of ['vite', 'esbuild', 'typescript', '@types/node']) symlinkSync(join(ROOT, 'node_modules', tool), join(at, 'node_modules', tool));
    }
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships what users need and nothing else', () => {
    // ESM only, as the README says: every entry has types and import conditions, nothing for require.
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', PACKAGE.name, 'package.json'), 'utf8')) as {
      type: string;
      exports: Record<string, string | Record<string, string>>;
    };
    expect(pkg.type).toBe('module');
    for (const [subpath, target] of Object.entries(pkg.exports))
      if (typeof target !== 'string') expect(Object.keys(target), subpath).toEqual(['types', 'import']);
    expect(files.filter((f) => /\.c[jt]s$/.test(f))).toEqual([]);
    // The README's first code block installs the package by its name.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme.slice(readme.search(/^```/m))).toMatch(new RegExp(`^\`\`\`sh\\nnpm i ${PACKAGE.name.replace('/', '\\/')}\\n\`\`\`\\n`));
    expect(files).toContain('LICENSE');
    expect(files).toContain('README.md');
    // The guides the README and `relay --help` point at travel with it (not the images or the site).
    expect(files).toContain('docs/server-operations.md');
    expect(files.filter((f) => f.startsWith('docs/') && !f.endsWith('.md'))).toEqual([]);
    // The command is @backchannel/cli's: the SDK has no bin (two packages with one bin name would clash).
    expect(files.filter((f) => f.startsWith('bin/'))).toEqual([]);
    expect(pkg).not.toHaveProperty('bin');
    expect(files.filter((f) => /^(dist\/)?(test|bench)\//.test(f))).toEqual([]);
    expect(
      files.filter(
        (f) => !/^(dist\/(src|server|cli)\/|src\/|server\/|cli\/|browser\/automerge\.js$|LICENSE$|README\.md$|docs\/[\w-]+\.md$|package\.json$)/.test(f),
      ),
    ).toEqual([]);
    for (const [subpath, target] of Object.entries(PACKAGE.exports)) {
      for (const file of typeof target === 'string' ? [target] : [target.types, target.import]) expect(files, subpath).toContain(file.replace(/^\.\//, ''));
    }
    // Every source and declaration map points at a file the package ships.
    const missing: string[] = [];
    for (const map of files.filter((f) => f.endsWith('.map'))) {
      const { sources } = JSON.parse(readFileSync(join(app, 'node_modules', PACKAGE.name, map), 'utf8')) as { sources: string[] };
      for (const s of sources) {
        const target = join(dirname(map), s);
        if (!files.includes(target)) missing.push(`${map} → ${target}`);
      }
    }
    expect(missing).toEqual([]);
    // No import-time side effects but the one that instantiates Automerge's WebAssembly in browsers.
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', PACKAGE.name, 'package.json'), 'utf8')) as {
      sideEffects: string[];
      browser: Record<string, string>;
    };
    expect(installed.sideEffects).toEqual(['./browser/automerge.js']);
    expect(Object.values(installed.browser)).toEqual(['./browser/automerge.js']);
    // Optional peers stay out of a plain install.
    expect(existsSync(join(app, 'node_modules/ioredis'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/localforage'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@statelyai'))).toBe(false);
    const manifest = pkg as unknown as { peerDependenciesMeta: Record<string, { optional?: boolean }> };
    expect(manifest.peerDependenciesMeta).toEqual({ ioredis: { optional: true }, localforage: { optional: true }, ws: { optional: true } });
  });

  it('@backchannel/cli: a bin, the SDK of the same version and ws', () => {
    expect(CLI.bin).toEqual({ backchannel: 'bin/backchannel.js' });
    expect(CLI.dependencies).toEqual({ [PACKAGE.name]: (PACKAGE as unknown as { version: string }).version, ws: expect.stringMatching(/^\^8\./) });
    expect(cliFiles.sort()).toEqual(['LICENSE', 'README.md', 'bin/backchannel.js', 'package.json']);
  });

  it('a browser app that installs the SDK alone gets nothing for Node or the CLI', () => {
    expect(webAppPackages).toContain(PACKAGE.name);
    expect(NOT_FOR_BROWSERS.filter((name) => webAppPackages.has(name) || existsSync(join(webApp, 'node_modules', name)))).toEqual([]);
  });

  it('without ws: nodeSocketConnector() throws typed on a Node without a global WebSocket, the CLI entry says what to install, the quick start runs on a global WebSocket', async () => {
    write(
      join(webApp, 'no-ws.mjs'),
      'delete globalThis.WebSocket; // Node 20, or Node ≥ 22 without its global\n' +
        `const { nodeSocketConnector } = await import('${PACKAGE.name}/adapters/node');\n` +
        "try { nodeSocketConnector(); console.log('made'); } catch (e) { console.log(`${e.name} ${e.code} ${JSON.stringify(e.data)}: ${e.message}`); }\n",
    );
    expect(await sh(process.execPath, ['no-ws.mjs'], webApp)).toMatch(/^InternalError INTERNAL \{"missing":"ws","install":"npm i ws"\}: .*npm i ws\n$/);
    log('the relay entry without ws names the package');
    write(join(webApp, 'server.mjs'), `await import('${PACKAGE.name}/server').catch((e) => console.log(e.message));\n`);
    expect(await sh(process.execPath, ['server.mjs'], webApp)).toMatch(/Cannot find package 'ws'/);
    log('the CLI entry without ws: one line, exit 1');
    write(join(webApp, 'cli.mjs'), `const { runCli } = await import('${PACKAGE.name}/cli');\nawait runCli(['--version']);\n`);
    const cli = run(process.execPath, ['cli.mjs'], 30_000, { cwd: webApp });
    const result = await cli.result;
    expect([result.code, result.stderr]).toEqual([
      1,
      'error: the backchannel command needs the ws package: npm i -g @backchannel/cli (or npm i ws beside @backchannel/sdk)\n',
    ]);
  });

  it('(a) the README quick start compiles strictly without the DOM lib and pairs two devices through the packaged relay', async () => {
    const bundlers = readFileSync(join(ROOT, 'docs/bundlers.md'), 'utf8');
    write(join(app, 'tsconfig.json'), codeBlock(bundlers, { file: 'tsconfig.json' }));
    write(join(app, 'quickstart.ts'), codeBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'), { heading: '## Quick start', lang: 'ts' }));
    // Every entry's declarations, too (those needing an optional peer are left out: it is not installed).
    const entries = Object.keys(PACKAGE.exports).filter((s) => s !== './package.json' && !NEEDS_PEER.has(s));
    write(
      join(app, 'entries.ts'),
      entries.map((s, i) => `import * as e${i} from '${join(PACKAGE.name, s)}';\nconsole.log('${s}', Object.keys(e${i}).length);\n`).join(''),
    );
    // The machines are private: a host sends nothing to them but through the façade's methods.
    write(
      join(app, 'no-actor.ts'),
      `import type { Backchannel } from '${PACKAGE.name}';\nimport type { Wormhole } from '${PACKAGE.name}/wormhole';\n` +
        'export function probe(bc: Backchannel, w: Wormhole): void {\n' +
        '  // @ts-expect-error no public actor\n  void bc.actor;\n  // @ts-expect-error no public actor\n  void w.actor;\n' +
        '  void bc.getSnapshot().value;\n  void bc.subscribe(() => {});\n}\n',
    );
    log(`tsc: quickstart.ts and ${entries.length} entries (strict, nodenext, lib es2022, skipLibCheck false)`);
    await sh(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', app], app);
    log('every entry loads in Node without the optional peers');
    const loaded = await sh(process.execPath, ['dist/entries.js'], app);
    for (const s of entries) expect(loaded).toMatch(new RegExp(`^${s.replace(/[./]/g, '\\$&')} [1-9]`, 'm'));
    // The main entry is what a host app needs: no machines, test doubles or schema internals (they
    // live in subpaths), and no mutable table.
    write(join(app, 'main-entry.mjs'), `import * as m from '${PACKAGE.name}';\nconsole.log(JSON.stringify(Object.keys(m)));\n`);
    const main = JSON.parse(await sh(process.execPath, ['main-entry.mjs'], app)) as string[];
    expect(main).toContain('createBackchannel');
    expect(main.filter((k) => /Machine$|^Memory|^Simulated|MIGRATIONS|SCHEMA_VERSIONS|^LIMITS$|Server$|^start/.test(k))).toEqual([]);
    // The public mailbox's URL cannot DISCOVER: no default a host would pick up from the main entry.
    expect(main).not.toContain('DEFAULT_RELAY_SERVER');
    expect(main.length, main.join(' ')).toBeLessThan(80); // it was 169 through `export *` (issue #10)
    log('startRelay({ redis }) without ioredis says what to install');
    write(
      join(app, 'peer.mjs'),
      "import { startRelay } from '@backchannel/sdk/server';\n" +
        "await startRelay({ port: 0, host: '127.0.0.1', redis: 'redis://127.0.0.1:1' }).then(() => console.log('started'), (e) => console.log(`${e.code}: ${e.message}`));\n" +
        'process.exit(0);\n',
    );
    expect(await sh(process.execPath, ['peer.mjs'], app)).toMatch(/^INVALID_ARGUMENT: The redis option needs the ioredis package.*npm i ioredis/);

    log('the CLI package: npx backchannel --version');
    expect(await sh('npx', ['--offline', 'backchannel', '--version'], cliApp)).toBe(`${CLI.version}\n`);
    const port = await freePort();
    log(`the CLI package's bin: backchannel relay on 127.0.0.1:${port}`);
    const running = run(join(cliApp, 'node_modules/.bin/backchannel'), ['relay', '--port', String(port), '--memory', '--quiet'], 300_000);
    const stop = async () => {
      running.child.kill('SIGTERM');
      return running.result;
    };
    relay = { url: `ws://127.0.0.1:${port}/v1`, port, running, stop };
    await running.waitFor(/relay listening/);
    log('node dist/quickstart.js');
    const out = await sh(process.execPath, ['dist/quickstart.js'], app, { BACKCHANNEL_RELAY: relay.url }, 60_000);
    expect(out).toContain('verifiers match: true');
    expect(out).toContain('Bob received: Hi Bob!');
    log("the same quick start in the browser app (no ws) on Node's global WebSocket");
    cpSync(join(app, 'dist/quickstart.js'), join(webApp, 'quickstart.mjs'));
    const globalWebSocket = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];
    const onGlobal = await sh(process.execPath, [...globalWebSocket, 'quickstart.mjs'], webApp, { BACKCHANNEL_RELAY: relay.url }, 60_000);
    expect(onGlobal).toContain('verifiers match: true');
    expect(onGlobal).toContain('Bob received: Hi Bob!');
  }, 120_000);

  describe('in Chromium', () => {
    let web: string;

    beforeAll(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-system-deps.sh`);
      if (!relay) throw new Error('the relay did not start (see the quick start test)');
      const bundlers = readFileSync(join(ROOT, 'docs/bundlers.md'), 'utf8');
      web = join(webApp, 'web');
      write(join(web, 'src/main.ts'), codeBlock(bundlers, { file: 'src/main.ts' }));
      write(join(web, 'index.html'), codeBlock(bundlers, { heading: 'with an `index.html` next to `src/`:' }));
      write(join(web, 'build.mjs'), codeBlock(bundlers, { file: 'build.mjs' }));
      write(join(web, 'tsconfig.json'), codeBlock(bundlers, { file: 'tsconfig.json, beside src/' }));
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [...CHROMIUM_ARGS],
      });
    }, 60_000);

    /** Open `url` and wait for the app's invitation code; page errors fail with what the console said. */
    async function inviteCodeAt(url: string): Promise<string> {
      const page = await browser!.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      try {
        await page.goto(`${url}?relay=${encodeURIComponent(relay!.url)}`);
        const handle = await page
          .waitForFunction(() => /^Your code: (\d+-\w+-\w+)$/.exec(document.body?.textContent ?? '')?.[1], null, { timeout: 30_000 })
          .catch((err: Error) => {
            throw new Error(`${url}: no code (${err.message.split('\n')[0]}); page errors: ${problems.join(' | ') || 'none'}`);
          });
        return (await handle.jsonValue()) as string;
      } finally {
        await page.close();
      }
    }

    it('(b) Vite: the dev server and `vite build`', async () => {
      log('tsc: the browser app against the packed declarations (strict, DOM lib, skipLibCheck false, no Node types)');
      const config = JSON.parse(readFileSync(join(web, 'tsconfig.json'), 'utf8').replace(/^\/\/.*$/m, '')) as { compilerOptions: Record<string, unknown> };
      expect(config.compilerOptions).toMatchObject({ strict: true, skipLibCheck: false, types: [] });
      await sh(process.execPath, [join(webApp, 'node_modules/typescript/bin/tsc'), '-p', web], web);
      const vite = (await import(join(webApp, 'node_modules/vite/dist/node/index.js'))) as typeof import('vite');
      log('vite dev server (no vite.config.ts)');
      const dev = await vite.createServer({ root: web, logLevel: 'warn', server: { host: '127.0.0.1', port: await freePort(), strictPort: true } });
      await dev.listen();
      try {
        expect(await inviteCodeAt(dev.resolvedUrls!.local[0]!)).toMatch(/^\d+-\w+-\w+$/);
      } finally {
        await dev.close();
      }
      log('vite build, served by vite preview');
      await vite.build({ root: web, logLevel: 'warn' });
      // One script, Automerge's WebAssembly inlined in it (no .wasm asset to serve or lose).
      expect(readdirSync(join(web, 'dist/assets')).map((f) => f.replace(/-[\w-]+\./, '.'))).toEqual(['index.js']);
      const preview = await vite.preview({ root: web, logLevel: 'warn', preview: { host: '127.0.0.1', port: await freePort(), strictPort: true } });
      try {
        expect(await inviteCodeAt(preview.resolvedUrls!.local[0]!)).toMatch(/^\d+-\w+-\w+$/);
      } finally {
        await new Promise<void>((resolve) => preview.httpServer.close(() => resolve()));
      }
    }, 120_000);

    it('(c) esbuild: a browser bundle', async () => {
      log('node build.mjs (esbuild, docs/bundlers.md)');
      await sh(process.execPath, ['build.mjs'], web);
      const js = readFileSync(join(web, 'www/main.js'));
      const html = codeBlock(readFileSync(join(ROOT, 'docs/bundlers.md'), 'utf8'), { heading: 'with an `index.html` next to `src/`:' }).replace(
        '/src/main.ts',
        '/main.js',
      );
      const server: Server = createServer((req, res) => {
        const isJs = req.url?.startsWith('/main.js');
        res.writeHead(200, { 'content-type': isJs ? 'text/javascript' : 'text/html' });
        res.end(isJs ? js : html);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        expect(await inviteCodeAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)).toMatch(/^\d+-\w+-\w+$/);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }, 60_000);
  });
});
