/**
 * What a signature adds to a message, in bytes: a channel of N messages as the sync bench writes them
 * (the sender's real `Database.sendMessage`), saved whole (`Automerge.save`, what a first sync and a
 * snapshot carry) and as one message's change (what a sync round or a deposit carries), with no
 * signature, the first signing version's hex, and the 64 bytes written now. Ed25519 signatures are
 * random: 64 bytes that do not compress. A lone change is not compressed, so hex costs it 128 bytes;
 * a saved document deflates its columns, which takes hex back to about its 64 bytes of entropy, so
 * there bytes and hex weigh the same (the floor is the signature itself).
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database } from '../src/db/database.js';
import { cryptoRandomBytes } from '../src/effects/random.js';

const N = 200;

/** The bytes per message of a channel where each message's `sig` is as `form` says. */
function perMessage(form: 'none' | 'hex' | 'bytes', messages: { id: string; timestamp: number; sender: string; text: string; sig: Uint8Array }[]) {
  let doc = A.from<{ messages: unknown[] }>({ messages: [] });
  const empty = A.save(doc).length;
  let change = 0;
  for (const m of messages) {
    const heads = A.getHeads(doc);
    doc = A.change(doc, (d) => {
      d.messages.push({
        id: new A.ImmutableString(m.id),
        timestamp: m.timestamp,
        sender: new A.ImmutableString(m.sender),
        text: new A.ImmutableString(m.text),
        ...(form === 'none' ? {} : { sig: form === 'hex' ? new A.ImmutableString(toHex(m.sig)) : m.sig }),
      });
    });
    change += A.saveSince(doc, heads).length;
  }
  return { saved: (A.save(doc).length - empty) / messages.length, change: change / messages.length };
}

describe('signature size', () => {
  it('a message is stored and sent with its signature as 64 bytes, not 128 hex digits', async () => {
    const db = await Database.open({ storage: new MemoryStorage() });
    const contact = await db.addContact({ moniker: 'X', contactKey: cryptoRandomBytes(32) });
    const channel = db.channelOf(contact);
    let own = 0; // what the Database itself writes per message: its changes as stored and sent
    for (let i = 0; i < N; i++) {
      await db.sendMessage(channel, { text: `message number ${i}` });
      own += A.getLastLocalChange(db.docs.get(channel))!.length;
    }
    own /= N;
    const messages = db.messages(channel).map((m) => ({ ...m, sig: m.sig as Uint8Array }));
    expect(messages.every((m) => m.sig instanceof Uint8Array && m.sig.length === 64)).toBe(true);
    const sizes = { none: perMessage('none', messages), hex: perMessage('hex', messages), bytes: perMessage('bytes', messages) };
    console.log(
      `bytes per message (${N} messages): one message's change — unsigned ${sizes.none.change.toFixed(1)}, hex sig ${sizes.hex.change.toFixed(1)}, ` +
        `byte sig ${sizes.bytes.change.toFixed(1)} (the Database's own: ${own.toFixed(1)}); Automerge.save — unsigned ${sizes.none.saved.toFixed(1)}, ` +
        `hex ${sizes.hex.saved.toFixed(1)}, bytes ${sizes.bytes.saved.toFixed(1)}`,
    );
    // A change: the signature costs its 64 bytes and a little framing, not hex's 128.
    expect(sizes.hex.change - sizes.none.change).toBeGreaterThan(128);
    expect(sizes.bytes.change - sizes.none.change).toBeLessThan(72);
    // Saved whole: deflate already took hex to its entropy; bytes are no worse than a few bytes either way.
    expect(sizes.bytes.saved - sizes.none.saved).toBeGreaterThanOrEqual(64);
    expect(Math.abs(sizes.bytes.saved - sizes.hex.saved)).toBeLessThan(8);
  });
});
