/**
 * Splitting what is new into deposits: each blob under the limit, each carrying the heads the contact
 * reaches by applying the deposits so far; a change too large for any deposit is refused, and what
 * came before it still goes.
 */
import { randomBytes } from 'node:crypto';
import * as A from '@automerge/automerge';
import { createActor, toPromise } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { prepareDeposit, type PrepareInput, type PreparedDeposits } from '../src/depot/depotActors.js';
import { depotKey, openDeposit } from '../src/depot/payload.js';

const channelId = 'c'.repeat(32);
const key = depotKey(new Uint8Array(32).fill(7));

function prepare(doc: A.Doc<{ texts: string[] }>, maxBlobChars: number, maxBatchChars = Infinity): Promise<PreparedDeposits> {
  const input = {
    docs: { get: () => doc, peerDevicesOf: () => new Set() }, // a contact whose set nothing proves yet
    storage: new MemoryStorage(),
    channelId,
    key,
    deviceId: 'd'.repeat(32),
    randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
    maxBlobChars,
    maxBatchChars,
  } as unknown as PrepareInput;
  return toPromise(createActor(prepareDeposit, { input }).start());
}

const sorted = (heads: A.Heads) => [...heads].sort();

describe('prepareDeposit', () => {
  it('splits changes into deposits under maxBlobChars, each with the heads it brings the contact to', async () => {
    let doc = A.from<{ texts: string[] }>({ texts: [] });
    for (let i = 0; i < 12; i++) doc = A.change(doc, (d) => void d.texts.push(randomBytes(1_500).toString('base64')));
    const { deposits, refused } = await prepare(doc, 8_000);
    expect(refused).toBeUndefined();
    expect(deposits.length).toBeGreaterThan(2);
    let contact = A.init<{ texts: string[] }>();
    for (const d of deposits) {
      expect(d.blob.length).toBeLessThanOrEqual(8_000);
      contact = A.loadIncremental(contact, openDeposit(key, d.blob)!.changes);
      expect(sorted(A.getHeads(contact))).toEqual(sorted(d.heads));
    }
    expect(sorted(deposits.at(-1)!.heads)).toEqual(sorted(A.getHeads(doc)));
    expect(contact.texts).toEqual(doc.texts);
  });

  it('prepares at most maxBatchChars at once (at least one deposit), and says there is more', async () => {
    let doc = A.from<{ texts: string[] }>({ texts: [] });
    for (let i = 0; i < 12; i++) doc = A.change(doc, (d) => void d.texts.push(randomBytes(1_500).toString('base64')));
    const all = await prepare(doc, 8_000);
    const some = await prepare(doc, 8_000, 16_000);
    expect(some.more).toBe(true);
    expect(some.deposits.length).toBeGreaterThanOrEqual(1);
    expect(some.deposits.length).toBeLessThan(all.deposits.length);
    expect(some.deposits.reduce((n, d) => n + d.blob.length, 0)).toBeLessThanOrEqual(16_000);
    expect(all.more).toBeUndefined();
  });

  it('refuses a change too large for any deposit, after sending what came before it', async () => {
    let doc = A.from<{ texts: string[] }>({ texts: [] });
    doc = A.change(doc, (d) => void d.texts.push('small'));
    doc = A.change(doc, (d) => void d.texts.push(randomBytes(20_000).toString('base64')));
    const { deposits, refused } = await prepare(doc, 8_000);
    expect(refused).toMatch(/^a change of \d+ bytes is larger than a deposit can carry \(5927 bytes\)$/);
    expect(deposits).toHaveLength(1);
    const contact = A.loadIncremental(A.init<{ texts: string[] }>(), openDeposit(key, deposits[0]!.blob)!.changes);
    expect(contact.texts).toEqual(['small']);
  });
});
