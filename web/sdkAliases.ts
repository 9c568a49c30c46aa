/**
 * The SDK as the web app and Storybook import it — `@backchannel/sdk` and its subpaths, exactly the
 * package's public "exports" — resolved to the TypeScript sources, so neither needs `npm run build`
 * first. Automerge is mapped the way the package's "browser" field maps it for any bundler.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, { types?: string } | string> };

/** `@backchannel/sdk/qr` → `<root>src/code/qr.ts`, … (from each export's declaration path). */
export function sdkAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string' || !target.types) continue;
    const source = target.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts');
    const name = subpath === '.' ? '@backchannel/sdk' : `@backchannel/sdk/${subpath.slice(2)}`;
    aliases.push({ find: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`), replacement: `${root}${source}` });
  }
  // The package's "browser" field: Automerge with its WebAssembly inlined.
  aliases.push({ find: /^@automerge\/automerge$/, replacement: `${root}browser/automerge.js` });
  return aliases;
}
