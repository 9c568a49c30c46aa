/**
 * The public types, held by the compiler: vitest type-checks this file (never runs it; see
 * vitest.config.ts), each `it` failing if one of its lines stops compiling or one of its
 * `@ts-expect-error` lines stops being an error. What a host writes against `@backchannel/sdk` is
 * checked here, so a wrong event, option or field is a type error.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  BackchannelError,
  BusyError,
  createBackchannel,
  parseAnyCode,
  type Backchannel,
  type BackchannelEvent,
  type BackchannelOptions,
  type Contact,
  type Message,
  type PairingStep,
  type RelayStatus,
  type StorageAdapter,
  type SocketConnector,
  type Via,
} from '../src/index.js';

declare const storage: StorageAdapter;
declare const connector: SocketConnector;
declare const bc: Backchannel;

describe('public types', () => {
  it('options: storage and connector are required; relay is a string; unknown options are refused', () => {
    expectTypeOf(createBackchannel).parameter(0).toEqualTypeOf<BackchannelOptions>();
    const ok: BackchannelOptions = { storage, connector, relay: 'ws://127.0.0.1:4000/v1' };
    void ok;
    // @ts-expect-error storage is required
    const noStorage: BackchannelOptions = { connector };
    // @ts-expect-error relay is a URL string, not a number
    const badRelay: BackchannelOptions = { storage, connector, relay: 4000 };
    // @ts-expect-error no such option
    const unknown: BackchannelOptions = { storage, connector, relayUrl: 'ws://x/v1' };
    void [noStorage, badRelay, unknown];
  });

  it('events are a union on type; each carries its own fields', () => {
    bc.subscribe((e) => {
      if (e.type === 'message') expectTypeOf(e.message).toEqualTypeOf<Message>();
      if (e.type === 'presence') expectTypeOf(e.via).toEqualTypeOf<Via | undefined>();
      if (e.type === 'relay') expectTypeOf(e.status).toEqualTypeOf<RelayStatus>();
      if (e.type === 'contact') expectTypeOf(e.contact).toEqualTypeOf<Contact>();
      // @ts-expect-error a message event has no `status`
      if (e.type === 'message') void e.status;
    });
    type Kinds = BackchannelEvent['type'];
    expectTypeOf<'message' | 'contact' | 'presence' | 'deposited' | 'refused' | 'relay'>().toMatchTypeOf<Kinds>();
    // @ts-expect-error not an event
    const wrong: Kinds = 'messages';
    void wrong;
  });

  it('calls: send takes text or a file reference; progress steps are named', async () => {
    expectTypeOf(bc.send).returns.resolves.toEqualTypeOf<Message>();
    expectTypeOf(bc.deviceId).toEqualTypeOf<string>();
    // @ts-expect-error a message is an object, not a string
    void bc.send('id', 'hi');
    expectTypeOf<PairingStep>().toEqualTypeOf<'connecting' | 'waiting' | 'verifying' | 'confirming'>();
    void bc.invite({ onProgress: (step) => expectTypeOf(step).toEqualTypeOf<PairingStep | 'naming'>() });
    // @ts-expect-error progress steps are not wormhole phases
    void bc.invite({ onProgress: (step: 'pake' | 'version') => step });
    expectTypeOf(parseAnyCode).returns.toHaveProperty('text');
  });

  it('errors: one class per code, branchable on `code`', () => {
    const e: BackchannelError = new BusyError('one at a time');
    expectTypeOf(e.code).toMatchTypeOf<string>();
    // @ts-expect-error no such code
    if (e.code === 'NOPE') void e;
    // @ts-expect-error the base class is not built directly: a class per code
    void new BackchannelError('BUSY', 'x');
  });
});
