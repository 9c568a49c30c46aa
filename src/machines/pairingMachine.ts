/**
 * VERIFY for Backchannel as a machine: the wormhole exchange as a child machine, then a sealed
 * `{"paired": 1}` each way so both sides know both hold the key, then a happy close.
 *
 *   connecting → waiting (the code is known: typed, or shown once the relay holds our PAKE message) → verifying (both SPAKE2 messages are
 *   in) → confirming (key proven; our `paired` sent, waiting for theirs) → closing → paired
 *   · failed (wrong code, lost connection, timeout, a peer that does not confirm, cancel)
 *
 * The outside hears through the `announce` action: emitted by default (`createPairing` listens), a
 * parent provides sendParent (the app's `pairing` child). The result is the machine's output.
 * @module
 */
import { assign, emit, enqueueActions, sendParent, sendTo, setup, type ActorRefFrom } from 'xstate';
import { fromUtf8, utf8 } from '../crypto/bytes.js';
import { deriveContactKey, formatVerifier } from '../crypto/keys.js';
import { isPublicKeyHex } from '../crypto/signing.js';
import { AbortedError, BackchannelError, ClosedError, LinkRefusedError, ProtocolError, toBackchannelError } from '../errors.js';
import type { LinkBundle, OwnDevice } from '../devices/linkBundle.js';
import { wormholeMachine, type WormholeEmitted, type WormholeInput, type WormholeOutput } from './wormholeMachine.js';

/**
 * Where a pairing is, for a progress display: `connecting` to the relay, `waiting` for the other
 * person (the code is out), `verifying` (both SPAKE2 messages are in; the key is being confirmed),
 * `confirming` (the key is proven; both sides acknowledge the pairing). A *step* of the pairing, not
 * a wormhole message *phase* (`pake`, `version`, `0`…).
 */
export type PairingStep = 'connecting' | 'waiting' | 'verifying' | 'confirming';

/** What a running pairing tells its owner before it ends: its step, and the code once known. */
export type PairingAnnouncement = { type: 'pairing.progress'; step: PairingStep } | { type: 'pairing.code'; code: string };

/**
 * Linking one's own device instead of pairing with a contact (under its own appid, so the two kinds
 * of code never meet): the approving device `offer`s, building the bundle once the new device's
 * `paired` message named it; the new device (`receive`, with its device id) waits for that bundle.
 */
export type PairingLink =
  | {
      role: 'offer';
      /** Builds what the new device receives, once its `paired` message named it. */
      bundle: (peer: OwnDevice) => LinkBundle;
    }
  | { role: 'receive'; deviceId: string };

/** The wormhole's input, and this device's public key to hand the other side inside the encrypted phase. */
export type PairingInput = WormholeInput & { publicKey?: string; link?: PairingLink };

/** How a pairing ended: the contact key and verifier when it succeeded, or the error. */
export interface PairingOutput {
  /** The 32-byte contact key; set when the pairing succeeded. */
  contactKey?: Uint8Array;
  /** The other device's public key (hex), when it sent one with its `paired` message. */
  publicKey?: string;
  verifier?: string;
  code?: string;
  error?: BackchannelError;
  /** A device link: the bundle the approving device sent (both sides have it). */
  link?: LinkBundle;
}

/** The wormhole child's emitted events as its parent hears them: the same, typed `wormhole.<type>`. */
export type FromWormhole = {
  [K in WormholeEmitted['type']]: Omit<Extract<WormholeEmitted, { type: K }>, 'type'> & { type: `wormhole.${K}` };
}[WormholeEmitted['type']];

/** What the pairing machine takes: its wormhole child's reports, and CANCEL from its owner. */
export type PairingEvent = FromWormhole | { type: 'CANCEL'; reason?: unknown };

/** The wormhole as this machine's child: it reports to us instead of emitting. */
const childWormhole = wormholeMachine.provide({
  actions: { announce: sendParent((_, params: WormholeEmitted) => ({ ...params, type: `wormhole.${params.type}` }) as FromWormhole) },
});

/** VERIFY as a machine: the wormhole exchange, then both sides confirm they hold the same key. */
export const pairingMachine = setup({
  types: {
    input: {} as PairingInput,
    context: {} as {
      input: PairingInput;
      code?: string;
      contactKey?: Uint8Array;
      verifier?: string;
      publicKey?: string;
      link?: LinkBundle;
      error?: BackchannelError;
    },
    events: {} as PairingEvent,
    emitted: {} as PairingAnnouncement,
    output: {} as PairingOutput,
  },
  actors: { wormhole: childWormhole },
  actions: {
    announce: emit((_, params: PairingAnnouncement) => params),
    fail: assign({ error: (_, params: { error: BackchannelError }) => params.error }),
  },
}).createMachine({
  id: 'pairing',
  context: ({ input }) => ({ input, code: input.code }),
  invoke: {
    id: 'wormhole',
    src: 'wormhole',
    input: ({ context }) => context.input,
    onDone: [
      { guard: ({ context, event }) => !event.output.error && context.contactKey !== undefined && context.error === undefined, target: '.paired' },
      {
        target: '.failed',
        actions: assign({
          error: ({ context, event }) =>
            context.error ?? (event.output as WormholeOutput).error ?? new ClosedError('The wormhole closed before the pairing completed.'),
        }),
      },
    ],
    onError: { target: '.failed', actions: assign({ error: ({ event }) => toBackchannelError(event.error, 'PROTOCOL') }) },
  },
  on: {
    CANCEL: {
      actions: [
        assign({ error: ({ event }) => new AbortedError('The pairing was cancelled.', event.reason) }),
        sendTo('wormhole', ({ event }) => ({ type: 'ABORT' as const, reason: event.reason })),
      ],
    },
  },
  initial: 'connecting',
  states: {
    connecting: {
      entry: { type: 'announce', params: { type: 'pairing.progress', step: 'connecting' } },
      // Joining knows its code at once; inviting waits for the relay's nameplate, and shows the code
      // only once the relay holds our PAKE message: whoever redeems it then finds us in the mailbox,
      // and one who finds nobody knows the code expired (CodeExpiredError, wormhole `expectPeer`).
      always: { guard: ({ context }) => context.input.code !== undefined, target: 'waiting' },
      on: {
        'wormhole.code': { actions: assign({ code: ({ event }) => event.code }) },
        'wormhole.stored': {
          guard: ({ context }) => context.code !== undefined,
          target: 'waiting',
          actions: { type: 'announce', params: ({ context }) => ({ type: 'pairing.code' as const, code: context.code! }) },
        },
      },
    },
    waiting: {
      entry: { type: 'announce', params: { type: 'pairing.progress', step: 'waiting' } },
      on: { 'wormhole.key': 'verifying' },
    },
    verifying: {
      entry: { type: 'announce', params: { type: 'pairing.progress', step: 'verifying' } },
      on: {
        'wormhole.verified': {
          target: 'confirming',
          actions: [
            assign({ contactKey: ({ event }) => deriveContactKey(event.key), verifier: ({ event }) => formatVerifier(event.verifier) }),
            // Sealed with the phase key: the device keys travel only inside the encrypted wormhole.
            sendTo('wormhole', ({ context }) => ({
              type: 'SEND' as const,
              plaintext: pairedMessage(context.input.publicKey, context.input.link?.role === 'receive' ? context.input.link.deviceId : undefined),
            })),
          ],
        },
      },
    },
    confirming: {
      entry: { type: 'announce', params: { type: 'pairing.progress', step: 'confirming' } },
      on: {
        'wormhole.message': [
          // Linking, the approving side: sign the new device in and send it the bundle, then close.
          {
            guard: ({ context, event }) => isPaired(event.plaintext) && context.input.link?.role === 'offer',
            target: 'closing',
            actions: [
              assign(({ context, event }) => {
                const publicKey = publicKeyOf(event.plaintext);
                const deviceId = parsed(event.plaintext)?.device_id;
                if (!publicKey || typeof deviceId !== 'string' || !/^[0-9a-f]{32}$/.test(deviceId))
                  return { error: new LinkRefusedError('the new device did not name itself') };
                try {
                  const offer = context.input.link as Extract<PairingLink, { role: 'offer' }>;
                  return { publicKey, link: offer.bundle({ device_id: deviceId, public_key: publicKey }) };
                } catch (err) {
                  return { error: toBackchannelError(err) };
                }
              }),
              enqueueActions(({ context, enqueue }) => {
                if (context.link) enqueue.sendTo('wormhole', { type: 'SEND', plaintext: utf8(JSON.stringify({ link: context.link })) });
                enqueue.sendTo('wormhole', { type: 'CLOSE', mood: context.link ? 'happy' : 'errory' });
              }),
            ],
          },
          // Linking, the new device: the approver's `paired` first, then its bundle.
          {
            guard: ({ context, event }) => isPaired(event.plaintext) && context.input.link?.role === 'receive',
            target: 'receivingLink',
            actions: assign({ publicKey: ({ event }) => publicKeyOf(event.plaintext) }),
          },
          {
            guard: ({ event }) => isPaired(event.plaintext),
            target: 'closing',
            actions: [assign({ publicKey: ({ event }) => publicKeyOf(event.plaintext) }), sendTo('wormhole', { type: 'CLOSE', mood: 'happy' })],
          },
          {
            target: 'closing',
            actions: [
              assign({
                error: ({ event }) => new ProtocolError('The other side did not confirm the pairing.', { got: fromUtf8(event.plaintext).slice(0, 64) }),
              }),
              sendTo('wormhole', { type: 'CLOSE', mood: 'errory' }),
            ],
          },
        ],
      },
    },
    receivingLink: {
      on: {
        'wormhole.message': {
          target: 'closing',
          actions: [
            assign(({ event }) => {
              const link = parsed(event.plaintext)?.link;
              // Shape and signature are checked by the app (devices/linkBundle.ts) before anything is stored.
              return link && typeof link === 'object' ? { link: link as LinkBundle } : { error: new LinkRefusedError('the approving device sent no bundle') };
            }),
            sendTo('wormhole', ({ context }) => ({ type: 'CLOSE' as const, mood: context.link ? ('happy' as const) : ('errory' as const) })),
          ],
        },
      },
    },
    closing: {},
    paired: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) =>
    context.error
      ? { error: context.error, code: context.code }
      : {
          contactKey: context.contactKey,
          verifier: context.verifier,
          code: context.code,
          ...(context.publicKey ? { publicKey: context.publicKey } : {}),
          ...(context.link ? { link: context.link } : {}),
        },
});

/** `{"paired":1}`, with our device key when we have one (older peers read only `paired`), and our device id when linking. */
function pairedMessage(publicKey: string | undefined, deviceId?: string): Uint8Array {
  return utf8(
    JSON.stringify({ paired: 1, ...(publicKey === undefined ? {} : { public_key: publicKey }), ...(deviceId === undefined ? {} : { device_id: deviceId }) }),
  );
}

function parsed(plaintext: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(fromUtf8(plaintext)) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isPaired(plaintext: Uint8Array): boolean {
  return parsed(plaintext)?.paired === 1;
}

/** The peer's device key from its `paired` message; anything but 64 hex digits is ignored. */
function publicKeyOf(plaintext: Uint8Array): string | undefined {
  const key = parsed(plaintext)?.public_key;
  return isPublicKeyHex(key) ? key : undefined;
}

/** A running pairing machine, as `createActor(pairingMachine)` returns it. */
export type PairingActor = ActorRefFrom<typeof pairingMachine>;
