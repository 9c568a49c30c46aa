/**
 * Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core, serving a bundle from 127.0.0.1.
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Headless as root, and quiet: no background calls to hosts this machine cannot (and must not) reach. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserFixture {
  page: Page;
  url: string;
  close(): Promise<void>;
}

/**
 * Bundle `entry` for the browser, serve it on 127.0.0.1 with an empty page, open it in Chromium and
 * wait until the bundle defined `window[ready]`.
 */
export async function openInChromium(entry: string, ready = 'runConformance', extraArgs: string[] = []): Promise<BrowserFixture> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-system-deps.sh`);
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    target: 'chrome120',
    logLevel: 'silent',
    external: ['crypto'], // tweetnacl's Node fallback; the browser has WebCrypto
    // Automerge's exports list "webpack" (WASM inlined as base64) before "browser" (a .wasm import).
    conditions: ['webpack'],
  });
  const js = bundle.outputFiles[0]!.text;
  const server: Server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(js);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><meta charset="utf-8"><title>backchannel test</title><script type="module" src="/bundle.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction((name) => name in window, ready);
  return {
    page,
    url,
    async close() {
      await browser.close();
      await new Promise((r) => server.close(r));
    },
  };
}
