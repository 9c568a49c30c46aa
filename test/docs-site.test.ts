/**
 * `npm run docs` builds the site (typedoc with warnings as errors, the generated machine diagrams,
 * mermaid, the web app and Storybook links), and the site works in real Chromium: every guide page and
 * a browser adapter's API page open with no console error, every machine's diagram renders to an SVG,
 * and no internal link is broken.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, relative } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite, ROOT } from '../scripts/docs/build.js';
import { machineLevels } from '../scripts/docs/machineDiagram.js';
import { MACHINES } from '../scripts/docs/machinesPage.js';
import { CHROMIUM, CHROMIUM_ARGS } from './helpers/chromium.js';

const OUT = join(ROOT, '.tmp', 'site-test');
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

function htmlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.html'))
    .map((d) => join(d.parentPath, d.name));
}

let server: ReturnType<typeof createServer> | undefined;
let browser: Browser | undefined;
let base = '';

beforeAll(async () => {
  const lines: string[] = [];
  buildSite({ out: OUT, log: (line) => lines.push(line) });
  console.log(lines.filter((l) => !l.startsWith('[info]')).join('\n'));
  server = createServer((req, res) => {
    const path = join(OUT, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end(); // the browser asks; typedoc's pages name none
      return;
    }
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'index.html') : path;
    if (!file.startsWith(OUT) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

/** Open a page of the site; resolves with what went wrong in it (console errors, uncaught exceptions, failed requests). */
async function visit(path: string, ready?: (page: import('playwright-core').Page) => Promise<void>): Promise<string[]> {
  const page = await browser!.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()}: ${r.url()}`));
  try {
    const response = await page.goto(base + path, { waitUntil: 'load' });
    expect(response?.status(), path).toBe(200);
    await page.waitForFunction(() => document.body.style.display !== 'none'); // typedoc shows the page once its script ran
    await ready?.(page);
  } finally {
    await page.close();
  }
  return problems;
}

describe('the docs site', () => {
  it('has every guide, the API of every public entry and the machine diagrams page', () => {
    const docs = readdirSync(join(OUT, 'documents'));
    for (const guide of ['Getting_started', 'Embedding_Backchannel_in_an_app', 'Adapters', 'Running_the_relay', 'State_machines', 'The_event_journal']) {
      expect(
        docs.some((d) => d.startsWith(guide)),
        guide,
      ).toBe(true);
    }
    const modules = readdirSync(join(OUT, 'modules'));
    for (const entry of ['src_adapters_browser', 'src_adapters_localforage', 'src_adapters_node', 'server_redis', 'src_machines']) {
      expect(modules, entry).toContain(`${entry}.html`);
    }
    expect(existsSync(join(OUT, 'assets', 'mermaid.min.js'))).toBe(true);
    for (const build of ['web', 'storybook']) expect(existsSync(join(OUT, build, 'index.html')), build).toBe(true);
  });

  it('has no broken internal link', () => {
    const ids = new Map<string, Set<string>>();
    const idsOf = (file: string) => {
      if (!ids.has(file)) ids.set(file, new Set([...readFileSync(file, 'utf8').matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]!)));
      return ids.get(file)!;
    };
    const broken: string[] = [];
    const pages = htmlFiles(OUT).filter((f) => !/\/(web|storybook)\//.test(f)); // the copied builds test themselves
    let links = 0;
    for (const page of pages) {
      for (const [, href] of readFileSync(page, 'utf8').matchAll(/\b(?:href|src)="([^"]*)"/g)) {
        if (!href || /^(https?:|mailto:|data:|javascript:|#$)/.test(href)) continue;
        links++;
        const url = new URL(href, 'file://' + page);
        const target = decodeURIComponent(url.pathname);
        const file = existsSync(target) && statSync(target).isDirectory() ? join(target, 'index.html') : target;
        if (!existsSync(file)) broken.push(`${relative(OUT, page)} → ${href}`);
        else if (url.hash && file.endsWith('.html') && !idsOf(file).has(decodeURIComponent(url.hash.slice(1))))
          broken.push(`${relative(OUT, page)} → ${href} (no such anchor)`);
      }
    }
    console.log(`checked ${links} internal links on ${pages.length} pages`);
    expect(links).toBeGreaterThan(1000);
    expect(broken).toEqual([]);
  });

  it('opens every guide page in Chromium with no console error', { timeout: 300_000 }, async () => {
    const guides = ['index.html', ...readdirSync(join(OUT, 'documents')).map((d) => `documents/${d}`)];
    const problems: string[] = [];
    for (const path of guides) problems.push(...(await visit(path)).map((p) => `${path}: ${p}`));
    console.log(`opened ${guides.length} guide pages`);
    expect(problems).toEqual([]);
  });

  it("opens a browser adapter's API page (OpfsStorage), with the header's web app and Storybook links", async () => {
    const path = readdirSync(join(OUT, 'classes')).find((c) => /adapters_browser\.OpfsStorage\.html$/.test(c));
    expect(path).toBeDefined();
    const problems = await visit(`classes/${path}`, async (page) => {
      expect(await page.locator('h1').first().textContent()).toContain('OpfsStorage');
      for (const [name, href] of [
        ['Web app', 'web/index.html'],
        ['Storybook', 'storybook/index.html'],
      ] as const) {
        expect(await page.getByRole('link', { name, exact: true }).getAttribute('href')).toBe(base + href);
      }
    });
    expect(problems).toEqual([]);
  });

  it('renders every machine diagram to an SVG', { timeout: 120_000 }, async () => {
    const path = readdirSync(join(OUT, 'documents')).find((d) => d.startsWith('State_machines'));
    const problems = await visit(`documents/${path}`, async (page) => {
      await page.waitForFunction(() => document.documentElement.dataset.diagrams === 'rendered', undefined, { timeout: 90_000 });
      const diagrams = page.locator('figure.machine-diagram svg');
      const levels = MACHINES.flatMap(({ machine }) => machineLevels(machine));
      expect(await diagrams.count()).toBe(levels.length);
      // Each SVG draws its level's states: every state named in its Mermaid text is a node with that label.
      const texts = await diagrams.evaluateAll((svgs) => svgs.map((svg) => svg.textContent ?? ''));
      for (const [i, level] of levels.entries()) {
        for (const [, label] of level.mermaid.matchAll(/state "([^"]+)"/g)) expect(texts[i], level.path).toContain(label!.replace(/ \(parallel\)| …/, ''));
      }
      console.log(`${levels.length} diagrams of ${MACHINES.length} machines rendered`);
    });
    expect(problems).toEqual([]);
  });
});
