import { describe, expect, it } from 'vitest';
import { depotRequestProblem, isAckFrame, isDepositFrame, isErrorFrame, isFetchFrame, parseDepotReply } from '../src/depot/wire.js';

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
    expect(depotRequestProblem({ type: 'deposit', topic, blob: 'AAAA', tag: 'ABCDEF0123456789' })).toBe("deposit's 'tag' must be 16 hex digits");
    expect(depotRequestProblem({ type: 'fetch', topic, skip: '' })).toBe("fetch's 'skip' must be a tag of 16 hex digits");
  });
});
