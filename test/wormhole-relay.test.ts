import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { toHex } from '../src/crypto/bytes.js';
import { CrowdedError, WrongCodeError } from '../src/errors.js';
import { rawClient } from './helpers/rawClient.js';

const appid = 'example.com/test';
const connector = nodeSocketConnector();
let relay: Relay;
const frames: Record<string, unknown>[] = [];
beforeAll(async () => {
  relay = await startRelay({ onFrame: (direction, text) => direction === 'in' && frames.push(JSON.parse(text)) });
});
afterAll(() => relay.close());

describe('our client ↔ our relay over real sockets', () => {
  it('allocates a code, agrees on a key, exchanges messages both ways, closes happy', async () => {
    const a = new Wormhole({ relay: relay.url, appid, connector });
    const code = await a.code;
    expect(code).toMatch(/^\d+-[a-z]+-[a-z]+$/);
    const b = new Wormhole({ relay: relay.url, appid, connector, code });
    const [va, vb] = await Promise.all([a.verified, b.verified]);
    expect(toHex(va.key)).toBe(toHex(vb.key));
    expect(toHex(va.verifier)).toBe(toHex(vb.verifier));
    a.send({ hello: 'from a' });
    b.send({ hello: 'from b' });
    expect(await b.nextJson()).toEqual({ hello: 'from a' });
    expect(await a.nextJson()).toEqual({ hello: 'from b' });
    const [ca, cb] = await Promise.all([a.close(), b.close()]);
    expect(ca.mood).toBe('happy');
    expect(cb.mood).toBe('happy');
  });

  it('a wrong code fails on both sides with WrongCodeError and mood scary', async () => {
    const a = new Wormhole({ relay: relay.url, appid, connector });
    const code = await a.code;
    const wrong = code.replace(/-[a-z]+$/, '-zulu');
    const b = new Wormhole({ relay: relay.url, appid, connector, code: wrong === code ? code + 'x' : wrong });
    await expect(a.verified).rejects.toBeInstanceOf(WrongCodeError);
    await expect(b.verified).rejects.toBeInstanceOf(WrongCodeError);
    await expect(a.done).rejects.toBeInstanceOf(WrongCodeError);
    await expect(b.done).rejects.toBeInstanceOf(WrongCodeError);
    // Both told the relay they were scared, and the nameplate is gone: the code is dead.
    const nameplate = code.split('-')[0];
    const closes = frames.filter((f) => f.type === 'close' && f.mood === 'scary');
    expect(closes.length).toBeGreaterThanOrEqual(2);
    const lister = await rawClient(relay.url);
    lister.send({ type: 'bind', appid, side: 'lister' });
    lister.send({ type: 'list' });
    const { nameplates } = await lister.next((f) => f.type === 'nameplates');
    expect(nameplates).not.toContainEqual({ id: nameplate });
    lister.close();
  });

  it('survives the relay dropping every connection mid-exchange: same key, every message once, in order', async () => {
    const a = new Wormhole({ relay: relay.url, appid, connector, timeouts: { reconnectBaseMs: 20 } });
    const code = await a.code;
    relay.server.shutdown(); // every socket drops; the relay's state stays
    const b = new Wormhole({ relay: relay.url, appid, connector, code, timeouts: { reconnectBaseMs: 20 } });
    const [va, vb] = await Promise.all([a.verified, b.verified]);
    expect(toHex(va.key)).toBe(toHex(vb.key));
    for (let i = 0; i < 5; i++) a.send({ i });
    relay.server.shutdown();
    for (let i = 5; i < 10; i++) a.send({ i });
    const got: unknown[] = [];
    for (let i = 0; i < 10; i++) got.push(await b.nextJson());
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
    await Promise.all([a.close(), b.close()]);
  });

  it('a third side gets crowded', async () => {
    // Two sides hold nameplate 77 and never send a PAKE (so nobody releases it); a third is refused.
    const holders = await Promise.all([rawClient(relay.url), rawClient(relay.url)]);
    for (const [i, h] of holders.entries()) {
      h.send({ type: 'bind', appid, side: `holder${i}` });
      h.send({ type: 'claim', nameplate: '77' });
      await h.next((f) => f.type === 'claimed');
    }
    const z = new Wormhole({ relay: relay.url, appid, connector, code: '77-a-d' });
    await expect(z.done).rejects.toBeInstanceOf(CrowdedError);
    holders.forEach((h) => h.close());
  });
});
