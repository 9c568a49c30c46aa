/**
 * A hostile or broken server: whatever frames it sends, the client machine ends with a typed error (or
 * keeps waiting until its timeout) — it never throws something untyped and never hangs past the budget.
 */
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { SocketConnector } from '../src/effects/socket.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { BackchannelError } from '../src/errors.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches, budgetMs } from './helpers/branches.js';

const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 80 });
// Weighted towards well-formed frames: a malformed one ends the exchange at once, which would hide
// whatever the frames after it could do.
const serverFrame = fc.oneof(
  { arbitrary: fc.string(), weight: 1 },
  { arbitrary: fc.json(), weight: 1 },
  {
    arbitrary: fc
      .record({ type: fc.constant('welcome'), welcome: fc.oneof(fc.object(), fc.constant({ error: 'go away' }), fc.string()) })
      .map((o) => JSON.stringify(o)),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({
        type: fc.constantFrom('allocated', 'claimed', 'released', 'closed', 'ack', 'pong', 'nameplates'),
        nameplate: fc.oneof(fc.nat().map(String), fc.integer()),
        mailbox: fc.oneof(fc.string(), fc.integer()),
      })
      .map((o) => JSON.stringify(o)),
    weight: 10,
  },
  {
    arbitrary: fc
      .record({
        type: fc.constant('message'),
        side: fc.constantFrom('them', 'me', ''),
        phase: fc.constantFrom('pake', 'version', '0', '1', 'x'),
        body: fc.oneof(hex, fc.string(), fc.integer()),
      })
      .map((o) => JSON.stringify(o)),
    weight: 10,
  },
  {
    arbitrary: fc
      .record({ type: fc.constant('error'), error: fc.oneof(fc.constantFrom('crowded', 'reclaimed'), fc.string(), fc.integer()) })
      .map((o) => JSON.stringify(o)),
    weight: 1,
  },
);

describe('client machine against a garbage-spewing server', () => {
  it(
    'ends with a typed error or a clean close, within its time budget',
    async () => {
      const outcomes = new Branches('wormhole client against garbage', ['typed error', 'clean close'] as const);
      await fc.assert(
        // The host may also close at any point while garbage arrives: that must end cleanly.
        fc.asyncProperty(
          fc.array(serverFrame, { minLength: 1, maxLength: 12 }),
          fc.boolean(),
          fc.option(fc.nat({ max: 39 })),
          async (frames, withCode, closeAt) => {
            const clock = new SimulatedClock();
            const connector: SocketConnector = (_url, handlers) => {
              queueMicrotask(() => {
                handlers.onOpen();
                for (const f of frames) handlers.onMessage(f);
              });
              return { send() {}, close() {} };
            };
            let crashed: unknown;
            const w = new Wormhole({
              relay: 'ws://garbage/v1',
              appid: 'x',
              connector,
              clock,
              randomBytes: cryptoRandomBytes,
              code: withCode ? '5-guitarist-revenge' : undefined,
              timeouts: { peerMs: 10_000, closeMs: 1_000 },
              // A crash shows as a snapshot in status "error" (the handle itself turns it into a typed error).
              journal: (e) => {
                if (e.type === '@xstate.snapshot' && (e.snapshot as { status: string }).status === 'error')
                  crashed ??= (e.snapshot as { error: unknown }).error ?? 'error';
              },
            });
            let settled = false;
            let outcome: unknown;
            w.done.then(
              (o) => ((settled = true), (outcome = o)),
              (e) => ((settled = true), (outcome = e)),
            );
            for (let t = 0; t < 40 && !settled; t++) {
              if (t === closeAt) void w.close().catch(() => {});
              await new Promise((r) => setImmediate(r));
              clock.increment(500);
            }
            expect(settled, 'still running after the time budget').toBe(true);
            expect(crashed, 'an action threw: the machine crashed instead of failing cleanly').toBeUndefined();
            if (outcome instanceof Error) expect(outcome).toBeInstanceOf(BackchannelError);
            outcomes.hit(outcome instanceof Error ? 'typed error' : 'clean close');
          },
        ),
        // A welcome, then the host closes: a clean close, so that branch is reached whatever the draw.
        { numRuns: FC_RUNS, examples: [[['{"type":"welcome","welcome":{}}'], false, 0]] },
      );
      outcomes.check();
    },
    budgetMs(FC_RUNS, 50),
  );
});
