import { describe, expect, it } from 'vitest';
import { ackPlan, ackToken, depotKey, depotTag, openAnyDeposit, sealDeposit } from '../src/depot/payload.js';
import { signingKeypair } from '../src/crypto/signing.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { toHex } from '../src/crypto/bytes.js';
import {
  ackCheck,
  ACK_IDS_PROBLEM,
  MINE_PROBLEM,
  depotRequestProblem,
  isAckFrame,
  isDepositFrame,
  isErrorFrame,
  isFetchFrame,
  MAX_DEPOSIT_READERS,
  parseDepotReply,
  READERS_PROBLEM,
  TOKENS_PROBLEM,
} from '../src/depot/wire.js';

const topic = 'a'.repeat(64);

describe('depot wire', () => {
  it('a guard per request frame', () => {
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA' })).toBe(true);
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'not base64!' })).toBe(false);
    expect(isDepositFrame({ type: 'deposit', topic: 'A'.repeat(64), blob: 'AAAA' })).toBe(false);
    expect(isFetchFrame({ type: 'fetch', topic })).toBe(true);
    expect(isFetchFrame({ type: 'fetch' })).toBe(false);
    // A device's tag (deposit) and the tag its fetch skips: 16 hex digits when present.
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', tag: '0123456789abcdef' })).toBe(true);
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', tag: 'me' })).toBe(false);
    expect(isFetchFrame({ type: 'fetch', topic, skip: '0123456789abcdef' })).toBe(true);
    expect(isFetchFrame({ type: 'fetch', topic, skip: 7 })).toBe(false);
    expect(isAckFrame({ type: 'ack', topic, ids: ['1'] })).toBe(true);
    expect(isAckFrame({ type: 'ack', topic, ids: [1] })).toBe(false);
  });

  it('replies parse only when well formed; an error names the request it answers', () => {
    expect(parseDepotReply(JSON.stringify({ type: 'deposited', topic, id: 'x' }))).toEqual({ type: 'deposited', topic, id: 'x' });
    expect(parseDepotReply(JSON.stringify({ type: 'deposits', topic, items: [{ id: 'x', blob: 'AA==' }] }))?.type).toBe('deposits');
    expect(parseDepotReply(JSON.stringify({ type: 'deposits', topic, items: [{ id: 1 }] }))).toBeUndefined();
    expect(parseDepotReply(JSON.stringify({ type: 'waiting', topic }))).toEqual({ type: 'waiting', topic });
    expect(parseDepotReply(JSON.stringify({ type: 'error', re: 'deposit', reason: 'full' }))).toEqual({ type: 'error', re: 'deposit', reason: 'full' });
    // An error without `re` (or answering a DISCOVER request) is not the depot's.
    expect(parseDepotReply(JSON.stringify({ type: 'error', error: 'full' }))).toBeUndefined();
    expect(isErrorFrame({ type: 'error', re: 'announce', reason: 'x' })).toBe(false);
    expect(parseDepotReply('{')).toBeUndefined();
    expect(parseDepotReply(JSON.stringify({ type: 'announced', topic }))).toBeUndefined();
  });

  it('names what is wrong with a request', () => {
    expect(depotRequestProblem({ type: 'fetch', topic: 'x' })).toBe("fetch needs a 'topic' of 64 hex digits");
    expect(depotRequestProblem({ type: 'deposit', topic, blob: 3 })).toBe('blob must be base64');
    expect(depotRequestProblem({ type: 'ack', topic })).toBe("ack needs 'ids', a list of deposit ids");
    expect(depotRequestProblem({ type: 'ack', topic, ids: [] })).toBeUndefined();
    // One id twice: refused (it could prove a reader per repeat in one request).
    expect(depotRequestProblem({ type: 'ack', topic, ids: ['1', '2', '1'] })).toBe(ACK_IDS_PROBLEM);
    expect(isAckFrame({ type: 'ack', topic, ids: ['1', '1'] })).toBe(false);
    expect(depotRequestProblem({ type: 'deposit', topic, blob: 'AAAA', tag: 'ABCDEF0123456789' })).toBe("deposit's 'tag' must be 16 hex digits");
    expect(depotRequestProblem({ type: 'fetch', topic, skip: '' })).toBe("fetch's 'skip' must be a tag of 16 hex digits");
    // My other devices' tags: 1 to 16 distinct tags.
    const tags = Array.from({ length: 17 }, (_, i) => i.toString(16).padStart(16, '0'));
    expect(depotRequestProblem({ type: 'fetch', topic, mine: tags.slice(0, 16) })).toBeUndefined();
    expect(isFetchFrame({ type: 'fetch', topic, skip: tags[0], mine: tags.slice(1, 3) })).toBe(true);
    for (const mine of [[], tags, [tags[0], tags[0]], ['ME'], tags[0]]) {
      expect(depotRequestProblem({ type: 'fetch', topic, mine })).toBe(MINE_PROBLEM);
      expect(isFetchFrame({ type: 'fetch', topic, mine })).toBe(false);
    }
  });

  it("a deposit's readers: 1 to 16 distinct tags; an ack may name its tag", () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(16, '0'));
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers: tags(2) })).toBe(true);
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers: tags(MAX_DEPOSIT_READERS) })).toBe(true);
    for (const readers of [[], tags(MAX_DEPOSIT_READERS + 1), tags(10_000), ['me'], [tags(1)[0], tags(1)[0]], 'x'])
      expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers })).toBe(false);
    const problem = READERS_PROBLEM;
    expect(depotRequestProblem({ type: 'deposit', topic, blob: 'AAAA', readers: tags(10_000) })).toBe(problem);
    expect(depotRequestProblem({ type: 'deposit', topic, blob: 'AAAA', readers: tags(3) })).toBeUndefined();
    expect(isAckFrame({ type: 'ack', topic, ids: ['1'], tag: tags(1)[0] })).toBe(true);
    expect(isAckFrame({ type: 'ack', topic, ids: ['1'], tag: 'me' })).toBe(false);
    expect(depotRequestProblem({ type: 'ack', topic, ids: [], tag: 5 })).toBe("ack's 'tag' must be 16 hex digits");
    // Entries 'tag:check' (the check of the reader's ack token), their tags distinct; an ack's tokens one per id.
    const check = ackCheck('ab'.repeat(16));
    expect(check).toMatch(/^[0-9a-f]{32}$/);
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers: [`${tags(1)[0]}:${check}`, tags(2)[1]] })).toBe(true);
    for (const readers of [[`${tags(1)[0]}:${check}`, tags(1)[0]], [`${tags(1)[0]}:${check.slice(1)}`], [`${tags(1)[0]}:`]])
      expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers })).toBe(false);
    expect(isAckFrame({ type: 'ack', topic, ids: ['1', '2'], tokens: ['ab'.repeat(16), ''] })).toBe(true);
    for (const tokens of [['ab'.repeat(16)], ['ab'.repeat(16), 'x'], 'x'])
      expect(depotRequestProblem({ type: 'ack', topic, ids: ['1', '2'], tokens })).toBe(TOKENS_PROBLEM);
  });

  it('readers are the devices’ depot tags under the contact key (sorted, distinct, at most 16, none for an empty set), each with a token only that device opens', () => {
    const key = new Uint8Array(32).fill(3);
    const ids = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(32, '0'));
    const pairs = ids.map((_, i) => signingKeypair(new Uint8Array(32).fill(i + 1)));
    const devices = (n: number) => new Map(ids.slice(0, n).map((id, i) => [id, [toHex(pairs[i]!.publicKey)]]));
    const tagsOf = (readers: string[]) => readers.map((r) => r.slice(0, 16));
    expect(ackPlan(key, new Map())).toBeUndefined();
    const two = ackPlan(key, devices(2))!.make(cryptoRandomBytes);
    expect(tagsOf(two.readers)).toEqual([depotTag(key, ids[0]!), depotTag(key, ids[1]!)].sort());
    const many = ackPlan(key, devices(20))!.make(cryptoRandomBytes);
    expect(many.readers).toHaveLength(MAX_DEPOSIT_READERS);
    expect(isDepositFrame({ type: 'deposit', topic, blob: 'AAAA', readers: many.readers })).toBe(true);
    // Keyed: another contact's key gives other tags for the same device.
    expect(tagsOf(ackPlan(new Uint8Array(32).fill(4), devices(1))!.make(cryptoRandomBytes).readers)).not.toEqual(
      tagsOf(ackPlan(key, devices(1))!.make(cryptoRandomBytes).readers),
    );
    // Sealed in the deposit: each device opens its own token, whose check its entry lists; another device's key opens none of it.
    const blob = sealDeposit(depotKey(key), { sender: ids[5]!, docId: ids[6]!, changes: Uint8Array.of(1, 2) }, cryptoRandomBytes, two);
    const opened = openAnyDeposit(depotKey(key), blob)!;
    expect(opened).toMatchObject({ kind: 'changes', sender: ids[5], changes: Uint8Array.of(1, 2) });
    for (const i of [0, 1]) {
      const tag = depotTag(key, ids[i]!);
      const token = ackToken(opened.acks, tag, pairs[i]!.secretKey)!;
      expect(two.readers).toContain(`${tag}:${ackCheck(token)}`);
      expect(ackToken(opened.acks, tag, pairs[1 - i]!.secretKey)).toBeUndefined();
    }
    // A device with no key is listed by its bare tag.
    expect(ackPlan(key, new Map([[ids[0]!, []]]))!.make(cryptoRandomBytes).readers).toEqual([depotTag(key, ids[0]!)]);
  });
});
