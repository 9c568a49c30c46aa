/** The browser storage adapters, in real Chromium: the same conformance cases, plus a page reload. */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInChromium, type BrowserFixture } from './helpers/chromium.js';
import { storageConformanceCases } from './helpers/storageConformance.js';

let browser: BrowserFixture;
beforeAll(async () => {
  browser = await openInChromium(fileURLToPath(new URL('./browser/storageEntry.ts', import.meta.url)));
});
afterAll(() => browser?.close());

describe.each(['localforage', 'opfs'])('StorageAdapter conformance in Chromium: %s', (adapter) => {
  it('passes every conformance case', async () => {
    const results = await browser.page.evaluate((a) => window.runConformance(a), adapter);
    expect(results.map((r) => r.name)).toEqual(storageConformanceCases.map((c) => c.name));
    for (const r of results) expect(r.error ?? 'ok', r.name).toBe('ok');
  });

  it('keeps data across a page reload', async () => {
    expect(await browser.page.evaluate((a) => window.persist(a, 'write'), adapter)).toBe('written');
    await browser.page.reload();
    await browser.page.waitForFunction(() => 'persist' in window);
    expect(await browser.page.evaluate((a) => window.persist(a, 'read'), adapter)).toBe(`kept by ${adapter}`);
  });
});
