/**
 * The package's version, read from its package.json at run time: the nearest one above this module
 * that has a name and a version (a bare `{"type": "module"}` marker is passed over), so it works from
 * the repository (dist/cli/) and from an installed package alike, whatever the package is called.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageVersion(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (typeof manifest?.name === 'string' && typeof manifest.version === 'string') return manifest.version;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json with a name and version above ${fileURLToPath(from)}`);
    dir = parent;
  }
}

function readManifest(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined; // none here: keep walking up
  }
}
