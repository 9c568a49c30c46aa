/**
 * Messages carry their writer's signature (db/messageSignature.ts): fixed vectors for the signed bytes
 * and signatures; the rules a peer's message meets (a device of mine: signed by it, or the change is
 * refused; a device of the contact's proven set: signed by it, unsigned only from the paired device);
 * a property that forged, altered and replayed messages are refused and honest ones pass; and end to
 * end, a contact writing a message that names my other device is refused by my device.
 */
import * as A from '@automerge/automerge';
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { ed25519 as noble } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { verifyEd25519 } from '../src/crypto/ed25519.js';
import { sign, signingKeypair } from '../src/crypto/signing.js';
import { Database, documentId } from '../src/db/database.js';
import { checkSender, messageSignatureBytes, signMessage, verifyMessage, type SenderKeys, type SignedFields } from '../src/db/messageSignature.js';
import { validateMessage, type Message } from '../src/db/schema.js';
import { deviceSetBytes, deviceSetNotice, verifyDeviceSet } from '../src/devices/notices.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';
import { until } from './helpers/wait.js';

/** RFC 8032 §7.1 TEST 1's seed and public key: the signer of the vectors. */
const SEED = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const CHANNEL = '00112233445566778899aabbccddeeff';
const PLAIN: SignedFields = { id: '0123456789abcdef0123456789abcdef', timestamp: 1_700_000_000_000, sender: 'ab'.repeat(16), text: 'hello, Bob' };
const FULL: SignedFields = {
  ...PLAIN,
  file: { filename: 'cat.jpg', mimetype: 'image/jpeg', size: 12345, hash: 'cd'.repeat(32) },
  notice: '{"removed":true}',
};

describe('vectors: a fixed key and message give fixed bytes and a fixed signature', () => {
  it('the signed bytes: length-prefixed purpose, channel, id, time, sender, text, no file, no notice', () => {
    expect(toHex(signingKeypair(SEED).publicKey)).toBe(PUBLIC);
    expect(toHex(messageSignatureBytes(CHANNEL, PLAIN))).toBe(
      '00000016' +
        toHex(new TextEncoder().encode('backchannel:message:v1')) +
        '00000020' +
        toHex(new TextEncoder().encode(CHANNEL)) +
        '00000020' +
        toHex(new TextEncoder().encode(PLAIN.id)) +
        '0000000d' +
        toHex(new TextEncoder().encode('1700000000000')) +
        '00000020' +
        toHex(new TextEncoder().encode(PLAIN.sender)) +
        '0000000a' +
        toHex(new TextEncoder().encode('hello, Bob')) +
        '0000000130' +
        '0000000130',
    );
  });

  it('the signatures: 64 bytes, as node:crypto makes them from the bytes written out by hand; Node and @noble/curves check them', () => {
    const plain = 'e6364779c423906dda10a1bf43ccac563b14f20d1f04d6c1f538372cac63c7922262f29e0f369fd46b72d018e10b3d10ff90f82ec560de96a653269a76c28e09';
    const full = '6f68fcf678460ee8e39c3b9d4779432b57a40fdbbcc65dc030236d1303edd4da08152d269dc2903e4093a77858c7728be7e9c662a8f3f9bd382235aa5e733804';
    // Independently of our code: the signed bytes field by field, signed by node:crypto's Ed25519 (PKCS#8 of the RFC seed).
    const field = (f: string) => {
      const b = Buffer.from(f, 'utf8');
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      return Buffer.concat([n, b]);
    };
    const head = ['backchannel:message:v1', CHANNEL, PLAIN.id, '1700000000000', PLAIN.sender, 'hello, Bob'];
    const key = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(SEED)]),
      format: 'der',
      type: 'pkcs8',
    });
    const nodeSig = (fields: string[]) => nodeSign(null, Buffer.concat(fields.map(field)), key).toString('hex');
    expect(nodeSig([...head, '0', '0'])).toBe(plain);
    expect(nodeSig([...head, '1', 'cd'.repeat(32), '12345', 'cat.jpg', 'image/jpeg', '1', '{"removed":true}'])).toBe(full);
    const signedPlain = signMessage(CHANNEL, PLAIN, (b) => sign(SEED, b));
    expect(signedPlain).toBeInstanceOf(Uint8Array);
    expect(toHex(signedPlain)).toBe(plain);
    expect(toHex(signMessage(CHANNEL, FULL, (b) => sign(SEED, b)))).toBe(full);
    for (const [m, sig] of [
      [PLAIN, plain],
      [FULL, full],
    ] as const) {
      expect(verifyMessage(CHANNEL, m, fromHex(sig), PUBLIC)).toBe(true);
      // What the first signing version stored (hex) still verifies: that history stays readable.
      expect(verifyMessage(CHANNEL, m, sig, PUBLIC)).toBe(true);
      expect(noble.verify(fromHex(sig), messageSignatureBytes(CHANNEL, m), fromHex(PUBLIC), { zip215: false })).toBe(true);
      expect(verifyEd25519(fromHex(sig), messageSignatureBytes(CHANNEL, m), fromHex(PUBLIC))).toBe(true);
    }
    // Another channel, a field changed, a file or notice dropped: the same signature no longer holds.
    expect(verifyMessage('ff'.repeat(16), PLAIN, plain, PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, { ...PLAIN, text: 'hello, Bob!' }, plain, PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, { ...FULL, notice: undefined }, full, PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, { ...FULL, file: undefined }, full, PUBLIC)).toBe(false);
    // Malformed signatures and keys are false, never a throw.
    expect(verifyMessage(CHANNEL, PLAIN, 'zz', PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, PLAIN, fromHex(plain).subarray(1), PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, PLAIN, plain.toUpperCase(), PUBLIC)).toBe(false);
    expect(verifyMessage(CHANNEL, PLAIN, plain, 'ab')).toBe(false);
    expect(verifyEd25519(new Uint8Array(64), new Uint8Array(0), new Uint8Array(32))).toBe(false);
  });

  it('a field cannot move into its neighbour: the lengths keep them apart', () => {
    const a = messageSignatureBytes(CHANNEL, { ...PLAIN, text: 'ab', sender: 'c' });
    const b = messageSignatureBytes(CHANNEL, { ...PLAIN, text: 'b', sender: 'ca' });
    expect(toHex(a)).not.toBe(toHex(b));
    // An empty notice is a notice; no notice is none.
    expect(toHex(messageSignatureBytes(CHANNEL, { ...PLAIN, notice: '' }))).not.toBe(toHex(messageSignatureBytes(CHANNEL, PLAIN)));
  });

  it('the schema bounds `sig`: 64 bytes, the first signing version’s 128 hex digits, or absent', () => {
    const problems = (sig: unknown) => {
      const p: string[] = [];
      validateMessage(p, { ...PLAIN, sig });
      return p;
    };
    expect(problems(undefined)).toEqual([]);
    expect(problems(new Uint8Array(64))).toEqual([]);
    expect(problems('ab'.repeat(64))).toEqual([]);
    expect(problems(new Uint8Array(65))).toEqual(['message.sig must be 64 bytes']);
    expect(problems(new Uint8Array(0))).toEqual(['message.sig must be 64 bytes']);
    expect(problems('ab'.repeat(65))).toEqual(['message.sig must be 64 bytes']);
    expect(problems('AB'.repeat(64))).toEqual(['message.sig must be 64 bytes']);
    expect(problems(7)).toEqual(['message.sig must be 64 bytes']);
  });
});

describe('the rules for a peer’s message (checkSender)', () => {
  const key = (seed: number) => {
    const secret = new Uint8Array(32).fill(seed);
    return { secret, pub: toHex(signingKeypair(secret).publicKey) };
  };
  const [mine, paired, other, stranger] = [key(1), key(2), key(3), key(4)];
  const keys: SenderKeys = {
    mine: new Map([['11'.repeat(16), mine.pub]]),
    theirs: new Map([
      ['22'.repeat(16), new Set([paired.pub])],
      ['33'.repeat(16), new Set([other.pub])],
    ]),
    paired: paired.pub,
  };
  const msg = (sender: string, by?: Uint8Array) => {
    const m = { ...PLAIN, sender };
    return by ? { ...m, sig: signMessage(CHANNEL, m, (b) => sign(by, b)) } : m;
  };
  it('a device of mine: its signature, or refused', () => {
    expect(checkSender(CHANNEL, msg('11'.repeat(16), mine.secret), keys)).toEqual({ verdict: 'verified' });
    expect(checkSender(CHANNEL, msg('11'.repeat(16)), keys)).toMatchObject({ verdict: 'refused', problem: expect.stringMatching(/not signed/) });
    expect(checkSender(CHANNEL, msg('11'.repeat(16), paired.secret), keys)).toMatchObject({ verdict: 'refused' });
  });
  it('a device of the contact’s set: its signature; unsigned only the paired device (history from before signatures)', () => {
    expect(checkSender(CHANNEL, msg('33'.repeat(16), other.secret), keys)).toEqual({ verdict: 'verified' });
    expect(checkSender(CHANNEL, msg('33'.repeat(16), paired.secret), keys)).toMatchObject({ verdict: 'refused' });
    expect(checkSender(CHANNEL, msg('33'.repeat(16)), keys)).toMatchObject({ verdict: 'refused', problem: expect.stringMatching(/not signed/) });
    expect(checkSender(CHANNEL, msg('22'.repeat(16)), keys)).toEqual({ verdict: 'unverified' });
    expect(checkSender(CHANNEL, msg('22'.repeat(16), paired.secret), keys)).toEqual({ verdict: 'verified' });
  });
  it('a device no proven set names: nothing can check it, taken as before, unverified', () => {
    expect(checkSender(CHANNEL, msg('44'.repeat(16), stranger.secret), keys)).toEqual({ verdict: 'unverified' });
    expect(checkSender(CHANNEL, msg('44'.repeat(16)), keys)).toEqual({ verdict: 'unverified' });
  });
  it('a set that says its devices sign: no unsigned message in their names, the paired device’s neither, nor under an id outside the set', () => {
    const signing: SenderKeys = { ...keys, signing: new Set(['22'.repeat(16), '33'.repeat(16)]) };
    expect(checkSender(CHANNEL, msg('22'.repeat(16)), signing)).toMatchObject({
      verdict: 'refused',
      problem: expect.stringMatching(/signs its messages but is not signed/),
    });
    expect(checkSender(CHANNEL, msg('33'.repeat(16)), signing)).toMatchObject({ verdict: 'refused' });
    expect(checkSender(CHANNEL, msg('44'.repeat(16)), signing)).toMatchObject({
      verdict: 'refused',
      problem: expect.stringMatching(/no device of the contact/),
    });
    // Signed, they are checked as before; signed under an id outside the set, nothing can check it.
    expect(checkSender(CHANNEL, msg('22'.repeat(16), paired.secret), signing)).toEqual({ verdict: 'verified' });
    expect(checkSender(CHANNEL, msg('33'.repeat(16), paired.secret), signing)).toMatchObject({ verdict: 'refused' });
    expect(checkSender(CHANNEL, msg('44'.repeat(16), stranger.secret), signing)).toEqual({ verdict: 'unverified' });
    // A set of which only some statements say so: the others' devices as before.
    const partly: SenderKeys = { ...keys, signing: new Set(['33'.repeat(16)]) };
    expect(checkSender(CHANNEL, msg('22'.repeat(16)), partly)).toEqual({ verdict: 'unverified' });
  });
});

const self = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });

/** A raw message as a peer's Automerge replica would write it. */
const raw = (m: Message) => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) out[k] = typeof v === 'string' ? new A.ImmutableString(v) : v;
  if (m.file)
    out.file = {
      ...m.file,
      filename: new A.ImmutableString(m.file.filename),
      mimetype: new A.ImmutableString(m.file.mimetype),
      hash: new A.ImmutableString(m.file.hash),
    };
  return out;
};

/** Bob's database holding Alice's card (her key) and her signed set (Alice, Alice2) in their channel; Bob2 is Bob's other device. */
async function setUp() {
  const open = () => Database.open({ storage: new MemoryStorage() });
  const [bob, bob2, alice, alice2, mallory] = await Promise.all([open(), open(), open(), open(), open()]);
  await bob.addOwnDevices([self(bob2)]);
  await alice.addOwnDevices([self(alice2)]);
  const contactKey = cryptoRandomBytes(32);
  await bob.addContact({ moniker: 'Alice', contactKey, publicKey: alice.publicKey });
  const channel = documentId(contactKey);
  const other = documentId(cryptoRandomBytes(32));
  const actor = toHex(cryptoRandomBytes(16));
  /** Alice's device `peer` hands Bob a change adding `messages`. */
  const receive = (messages: Message[], peer = alice.deviceId) => {
    const next = A.change(A.clone(bob.docs.get<{ messages: unknown[] }>(channel), { actor }), (d: { messages: unknown[] }) => {
      for (const m of messages) d.messages.push(raw(m));
    });
    return bob.docs.update(channel, (doc) => A.merge(A.clone(doc), next), { trust: 'contact', peer });
  };
  const write = (db: Database, input: Partial<Message>, inChannel = channel): Message => {
    const m: Message = { id: toHex(cryptoRandomBytes(16)), timestamp: 1_700_000_000_000, sender: db.deviceId, text: 'hi', ...input };
    return { ...m, sig: signMessage(inChannel, m, (b) => db.sign(b)) };
  };
  expect((await receive([write(alice, { text: '', notice: deviceSetNotice(alice.deviceSetStatement(1)) })])).accepted).toBe(true);
  return { bob, bob2, alice, alice2, mallory, channel, other, receive, write };
}

describe('a peer’s messages, signed or not, through the document store', () => {
  it(
    'forged, altered or replayed into another channel: refused, the whole change, nothing stored; honest: taken',
    async () => {
      const s = await setUp();
      const writers = { alice: s.alice, alice2: s.alice2, bob2: s.bob2 };
      const names = Object.keys(writers) as (keyof typeof writers)[];
      const branches = new Branches('signed messages', [
        'honest',
        'forged by another key',
        'altered',
        'replayed from another channel',
        'unsigned',
        'unsigned paired',
      ]);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...names),
          fc.constantFrom('honest', 'forged', 'altered', 'replayed', 'unsigned'),
          fc.constantFrom('text', 'timestamp', 'id', 'file', 'notice', 'sig'),
          fc.string({ maxLength: 40 }),
          fc.boolean(),
          async (name, kind, field, text, withFile) => {
            const writer = writers[name];
            const input: Partial<Message> = {
              text,
              ...(withFile ? { file: { filename: 'a.txt', mimetype: 'text/plain', size: 3, hash: 'ee'.repeat(32) } } : {}),
            };
            let m = s.write(writer, input);
            if (kind === 'forged') m = { ...s.write(s.mallory, input), sender: writer.deviceId };
            if (kind === 'replayed') m = s.write(writer, input, s.other);
            if (kind === 'unsigned') delete m.sig;
            if (kind === 'altered') {
              if (field === 'text') m = { ...m, text: `${m.text}!` };
              if (field === 'timestamp') m = { ...m, timestamp: m.timestamp + 1 };
              if (field === 'id') m = { ...m, id: toHex(cryptoRandomBytes(16)) };
              if (field === 'file')
                m = m.file
                  ? { ...m, file: { ...m.file, size: m.file.size + 1 } }
                  : { ...m, file: { filename: 'x', mimetype: 'x', size: 1, hash: 'ff'.repeat(32) } };
              if (field === 'notice') m = { ...m, notice: '{"removed":true}' };
              if (field === 'sig') {
                const sig = Uint8Array.from(m.sig as Uint8Array);
                sig[63] = sig[63]! ^ 1;
                m = { ...m, sig };
              }
            }
            const before = s.bob.messages(s.channel).length;
            // A good message from Alice rides along: a refused change takes it with it.
            const r = await s.receive([s.write(s.alice, { text: 'alongside' }), m]);
            // Alice's set says its devices sign: unsigned, not even the paired device's is taken.
            const honest = kind === 'honest';
            expect(r.accepted, `${kind} ${field} by ${name}: ${r.problems.join('; ')}`).toBe(honest);
            expect(s.bob.messages(s.channel).length).toBe(before + (honest ? 2 : 0));
            if (!honest) expect(r.problems.join()).toMatch(/signature|not signed/);
            branches.hit(
              kind === 'honest'
                ? 'honest'
                : kind === 'forged'
                  ? 'forged by another key'
                  : kind === 'altered'
                    ? 'altered'
                    : kind === 'replayed'
                      ? 'replayed from another channel'
                      : name === 'alice'
                        ? 'unsigned paired'
                        : 'unsigned',
            );
          },
        ),
        { numRuns: FC_RUNS },
      );
      branches.check();
    },
    budgetMs(FC_RUNS, 30),
  );

  it('a message of mine Alice passes on is taken when Bob2 signed it, from Alice2 too; Alice2 may not speak for Alice unsigned', async () => {
    const s = await setUp();
    expect((await s.receive([s.write(s.bob2, { text: 'from Bob2' })], s.alice2.deviceId)).accepted).toBe(true);
    const { sig: _, ...unsigned } = s.write(s.alice2, { text: 'as Alice2, unsigned' });
    expect((await s.receive([unsigned], s.alice.deviceId)).accepted).toBe(false);
  });

  it('unsigned messages once the contact’s set says its devices sign: refused in the paired device’s name and under ids outside the set; a set from before the flag keeps the old rule', async () => {
    const s = await setUp();
    const { sig: _, ...unsigned } = s.write(s.alice, { text: 'unsigned, as Alice' });
    const r = await s.receive([unsigned]);
    expect(r.accepted).toBe(false);
    expect(r.problems.join()).toMatch(/signs its messages but is not signed/);
    // Under an id no set names, from the peer of that id (the peer rule lets it write only in its own name).
    const outside = { id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: s.mallory.deviceId, text: 'a device outside the set' };
    const r2 = await s.receive([outside], s.mallory.deviceId);
    expect(r2.accepted).toBe(false);
    expect(r2.problems.join()).toMatch(/no device of the contact/);
    // The flag is signed with the statement: a copy without it does not verify, so it cannot be taken away.
    const flagged = s.alice.deviceSetStatement(2);
    const { signs: __, ...stripped } = flagged;
    expect(verifyDeviceSet(stripped)).toBe(false);
    expect((await s.receive([s.write(s.alice, { text: '', notice: deviceSetNotice(stripped as typeof flagged) })])).accepted).toBe(true);
    expect((await s.receive([unsigned])).accepted).toBe(false);

    // Bob with Alice's set as a version before the flag signed it: the paired device's unsigned history is taken as before.
    const bob = await Database.open({ storage: new MemoryStorage() });
    const contactKey = cryptoRandomBytes(32);
    await bob.addContact({ moniker: 'Alice', contactKey, publicKey: s.alice.publicKey });
    const channel = documentId(contactKey);
    const old = { devices: [self(s.alice), self(s.alice2)], at: 1, by: s.alice.publicKey };
    const oldSet = { ...old, signature: toHex(s.alice.sign(deviceSetBytes(old))) };
    expect(verifyDeviceSet(oldSet)).toBe(true);
    const oldNotice: Message = { id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: s.alice.deviceId, text: '', notice: deviceSetNotice(oldSet) };
    const history: Message = { id: toHex(cryptoRandomBytes(16)), timestamp: 2, sender: s.alice.deviceId, text: 'from before signatures' };
    const next = A.change(A.clone(bob.docs.get<{ messages: unknown[] }>(channel), { actor: toHex(cryptoRandomBytes(16)) }), (d: { messages: unknown[] }) => {
      d.messages.push(raw(oldNotice), raw(history));
    });
    expect((await bob.docs.update(channel, (doc) => A.merge(A.clone(doc), next), { trust: 'contact', peer: s.alice.deviceId })).accepted).toBe(true);
  });

  it('a contact that never published a set: its messages, signed or not, are taken as before (nothing proves its device ids)', async () => {
    const bob = await Database.open({ storage: new MemoryStorage() });
    const carol = await Database.open({ storage: new MemoryStorage() });
    const contactKey = cryptoRandomBytes(32);
    await bob.addContact({ moniker: 'Carol', contactKey, publicKey: carol.publicKey });
    const channel = documentId(contactKey);
    const next = A.change(A.clone(bob.docs.get<{ messages: unknown[] }>(channel), { actor: toHex(cryptoRandomBytes(16)) }), (d: { messages: unknown[] }) => {
      d.messages.push(raw({ id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: carol.deviceId, text: 'old version' }));
    });
    expect((await bob.docs.update(channel, (doc) => A.merge(A.clone(doc), next), { trust: 'contact', peer: carol.deviceId })).accepted).toBe(true);
  });

  it('what this device writes carries its signature, checked with its key', async () => {
    const db = await Database.open({ storage: new MemoryStorage() });
    const contactKey = cryptoRandomBytes(32);
    const contact = await db.addContact({ moniker: 'X', contactKey });
    const sent = await db.sendMessage(db.channelOf(contact), {
      text: 'signed',
      file: { filename: 'f', mimetype: 'text/plain', size: 1, hash: 'aa'.repeat(32) },
    });
    expect(verifyMessage(documentId(contactKey), sent, sent.sig, db.publicKey)).toBe(true);
    // Stored as bytes (an Automerge byte value), read back as the same 64 bytes.
    const stored = db.messages(db.channelOf(contact))[0]!.sig;
    expect(stored).toBeInstanceOf(Uint8Array);
    expect(toHex(stored as Uint8Array)).toBe(toHex(sent.sig as Uint8Array));
  });
});

describe('end to end: a contact writes a message naming my other device', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    await relay.close();
  });

  it('my device refuses the change (the sync with that peer ends: ProtocolError), shows nothing of it', async () => {
    const aliceErrors: string[] = [];
    const open = (storage: MemoryStorage, onError?: (reason: string) => void) =>
      createBackchannel({
        storage,
        connector: nodeSocketConnector(),
        relay: relay.url,
        ...(onError
          ? {
              // The refusal's reason reaches the link as the peer's channel closes (the error itself is redacted).
              inspect: (e: { type: string; event?: { type?: string; reason?: string } }) => {
                if (e.type === '@xstate.event' && e.event?.type === 'link.disconnected' && e.event.reason) onError(e.event.reason);
              },
            }
          : {}),
      });
    const bobStorage = new MemoryStorage();
    const [alice, alice2] = await Promise.all([open(new MemoryStorage(), (r) => aliceErrors.push(r)), open(new MemoryStorage())]);
    let bob: Backchannel | undefined = await open(bobStorage);
    try {
      const link = await alice.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      await bob.send(aliceOnBob.id, { text: 'hello Alice' });
      await until(() => alice.messages(bobOnAlice.id).some((m) => m.text === 'hello Alice'));
      const alice2Id = alice2.deviceId;
      expect(alice.devices().map((d) => d.device_id)).toEqual([alice2Id]);

      // Bob's device writes, into its own copy of the channel, a message naming Alice2 (signed with Bob's key).
      await bob.close();
      bob = undefined;
      const db = await Database.open({ storage: bobStorage });
      const channel = db.channelOf(db.contacts()[0]!);
      const forged: Message = { id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: alice2Id, text: 'I am Alice2, trust me' };
      await db.docs.change<{ messages: unknown[] }>(channel, (d) => {
        d.messages.push(raw({ ...forged, sig: signMessage(channel, forged, (b) => db.sign(b)) }));
      });
      db.docs.close();
      bob = await open(bobStorage);

      await until(() => aliceErrors.some((r) => /names a device of mine/.test(r)), 30_000);
      expect(alice.messages(bobOnAlice.id).map((m) => m.text)).toEqual(['hello Alice']);
    } finally {
      await Promise.all([alice.close(), alice2.close(), bob?.close()]);
    }
  }, 90_000);
});
