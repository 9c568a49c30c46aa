/**
 * `npm run docs`: the docs site in `site/` — the guides (README and docs/*.md), the API reference of
 * every public entry (typedoc.json: warnings are errors, every export documented), the machine
 * diagrams generated from the machines, and the web app and Storybook builds when they exist.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machinesPage } from './machinesPage.js';

/** The package root: the nearest folder above this file with a package.json (from scripts/docs or dist/scripts/docs). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const ROOT = packageRoot();

/** The builds the site links to, under the site's `web/` and `storybook/`: the first folder that has an index.html. */
export const BUILDS: readonly { path: string; title: string; candidates: readonly string[]; how: string }[] = [
  { path: 'web', title: 'The web app', candidates: ['dist-web'], how: 'npm run build:web' },
  { path: 'storybook', title: 'Storybook', candidates: ['dist-storybook'], how: 'npm run build:storybook' },
];

export interface SiteOptions {
  /** Where the site goes (default `site/`); emptied first. */
  out?: string;
  /** Lines of progress (default: console.log). */
  log?: (line: string) => void;
}

/** Build the whole site; throws when typedoc reports an error or a warning. */
export function buildSite(options: SiteOptions = {}): string {
  const out = resolve(ROOT, options.out ?? 'site');
  const log = options.log ?? ((line: string) => console.log(line));
  // Generated, gitignored: docs/machines.md (the guides link to it as any other guide).
  const generated = join(ROOT, 'docs');
  mkdirSync(generated, { recursive: true });
  writeFileSync(join(generated, 'machines.md'), machinesPage());
  rmSync(out, { recursive: true, force: true });

  const typedoc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: ROOT, encoding: 'utf8' });
  const output = `${typedoc.stdout}${typedoc.stderr}`.trim();
  if (typedoc.status !== 0) throw new Error(`typedoc failed (exit ${typedoc.status}):\n${output}`);
  log(output);

  // Mermaid renders the diagrams in the page; served from the site itself, never a CDN.
  cpSync(join(ROOT, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js'), join(out, 'assets', 'mermaid.min.js'));

  for (const build of BUILDS) {
    const found = build.candidates.map((c) => join(ROOT, c)).find((dir) => existsSync(join(dir, 'index.html')));
    const dest = join(out, build.path);
    if (found) {
      cpSync(found, dest, { recursive: true });
      log(`${build.title}: copied ${found} into ${build.path}/`);
    } else {
      // The header links there either way; say how to get the real thing instead of a broken link.
      mkdirSync(dest, { recursive: true });
      writeFileSync(
        join(dest, 'index.html'),
        `<!doctype html><meta charset="utf-8"><title>${build.title} (not built)</title><h1>${build.title} is not in this build</h1>` +
          `<p>Run <code>${build.how}</code>, then <code>npm run docs</code> again.</p><p><a href="../index.html">Back to the docs</a></p>`,
      );
      log(`${build.title}: not built (looked in ${build.candidates.join(', ')}); skipped — run \`${build.how}\` first to include it`);
    }
  }
  log(`site: ${join(out, 'index.html')}`);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildSite();
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
