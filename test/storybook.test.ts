/**
 * Storybook (storybook/): built static once, then every story rendered in real Chromium. Each story
 * drives the web app's real machines (the SDK's, and its UI machine) over the in-memory relay, so a
 * story that renders is a scene the machines actually reach; none may log a console error or throw.
 * A screenshot of each goes to .tmp/screenshots/storybook-<id>.png.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './helpers/chromium.js';
import { ROOT, run } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const SHOTS = join(ROOT, '.tmp/screenshots');
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};
const dirs = tempDirs('bc-storybook-');
let out = '';
let server: Server;
let base = '';
let browser: Browser;

/** A static file server for the build, on 127.0.0.1. */
function serve(dir: string): Promise<Server> {
  const s = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(dir, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'max-age=600' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  out = dirs.make();
  const build = run(join(ROOT, 'node_modules/.bin/storybook'), ['build', '-c', join(ROOT, 'storybook'), '-o', out, '--quiet'], 300_000);
  const result = await build.result;
  expect(result.code, result.stderr.slice(-4000)).toBe(0);
  server = await serve(out);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}, 360_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  dirs.removeAll();
});

describe('Storybook', () => {
  it('renders every story in Chromium with no console error', async () => {
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { entries: Record<string, { id: string; type: string; title: string }> };
    const stories = Object.values(index.entries).filter((e) => e.type === 'story');
    // One story per failure a person can meet, and every screen.
    const ids = stories.map((s) => s.id);
    for (const id of [
      'failures--wrong-code',
      'failures--crowded-nameplate',
      'failures--timeout',
      'failures--relay-down',
      'failures--quota-refused',
      'failures--file-hash-mismatch',
      // Linked devices: a link code in Settings, two devices, entering a link code, unlinked.
      'screens-linked-devices--link-code',
      'screens-linked-devices--two-devices',
      'screens-linked-devices--enter-link-code',
      'screens-linked-devices--unlinked',
      // A contact who removed me: marked in the list, the chat readable, the composer off.
      'screens-chat-and-settings--removed-you',
      'screens-chat-and-settings--removed-you-in-contacts',
    ]) {
      expect(ids).toContain(id);
    }
    const failures: string[] = [];
    // What a contact who removed me looks like, read off the rendered page.
    type Check = { check: (page: Page) => Promise<unknown>; found?: unknown };
    const removedChecks: Record<string, Check> = {
      'screens-chat-and-settings--removed-you': {
        check: async (page) => ({
          note: await page.getByRole('status').filter({ hasText: 'removed you' }).count(),
          composerOff: await page.locator('textarea#message').isDisabled(),
          sendOff: await page.getByRole('button', { name: 'Send' }).isDisabled(),
          history: await page.getByRole('log').textContent(),
        }),
      },
      'screens-chat-and-settings--removed-you-in-contacts': {
        check: async (page) => page.locator('.contacts .removed-badge').allTextContents(),
      },
    };
    // One context (its HTTP cache shared); each story in a fresh page.
    const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
    for (const story of stories) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${base}iframe.html?id=${story.id}&viewMode=story`);
      // Rendered (the loader reached its scene), or Storybook's error display.
      await page.waitForSelector('[data-story-ready] .app, .sb-show-errordisplay', { timeout: 60_000 });
      if (await page.locator('.sb-show-errordisplay').count()) errors.push(`error display: ${await page.locator('#error-message').textContent()}`);
      await page.screenshot({ path: join(SHOTS, `storybook-${story.id}.png`), fullPage: true });
      if (errors.length) failures.push(`${story.id}: ${errors.join(' | ')}`);
      const seen = removedChecks[story.id];
      if (seen) seen.found = await seen.check(page);
      await page.close();
    }
    await context.close();
    console.log(`rendered ${stories.length} stories`);
    expect(failures).toEqual([]);
    expect(removedChecks['screens-chat-and-settings--removed-you']!.found).toMatchObject({
      note: 1,
      composerOff: true,
      sendOff: true,
      history: expect.stringContaining('Hi Alice, got it.'),
    });
    expect(removedChecks['screens-chat-and-settings--removed-you-in-contacts']!.found).toEqual([', Removed you']);
  }, 600_000);
});
