/**
 * What the app machine hands its children: pure functions of its context (no effects), kept apart so
 * the machine file holds only the states.
 * @module
 */
import { documentId, type Contact, type Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import { DEFAULT_FILE_SIZE_LIMIT, type SettingsDoc } from '../db/schema.js';
import { fromHex } from '../crypto/bytes.js';
import type { RelayMux } from '../discover/relayMux.js';
import { DISCOVER_PATH } from '../discover/wire.js';
import type { ContactLinkInput } from './contactLinkMachine.js';
import type { PairingInput, PairingLink } from './pairingMachine.js';
import { linkBundleFor } from '../devices/offer.js';
import { systemClock } from '../effects/clock.js';
import type { AppInput } from './appTypes.js';
import type { RelayCheckInput } from './appTypes.js';

/** The part of the app's context the inputs read. */
interface Source {
  input: AppInput;
  relays?: RelayMux;
  db?: Database;
  settings?: SettingsDoc;
  publicKey?: string;
}

/** The relay's DISCOVER endpoint beside its mailbox one: `…/v1` → `…/backchannel/v2`. */
export function discoveryUrlOf(relay: string): string {
  const url = new URL(relay);
  url.pathname = DISCOVER_PATH;
  return url.toString();
}

/**
 * A contact's background link: DISCOVER on our relay, SYNC and the depot client on our database.
 * `own`: the card is my devices' own channel (devices/selfLink.ts).
 */
export function linkInput(context: Source, contact: Contact, own = false): ContactLinkInput {
  const { input, db } = context;
  const contactKey = fromHex(contact.channels[0]!);
  const { relay_server, ice_servers } = context.settings!;
  return {
    contactId: contact.id,
    channelId: documentId(contactKey),
    docs: db!.docs,
    storage: db!.storage,
    deviceId: db!.deviceId,
    maxFileBytes: context.settings!.file_size_limit ?? DEFAULT_FILE_SIZE_LIMIT,
    ...(input.relayFileBytes === undefined ? {} : { relayFileBytes: input.relayFileBytes }),
    ...(own ? { own } : {}),
    discover: {
      contactKey,
      url: discoveryUrlOf(relay_server),
      // One socket per relay for every contact's DISCOVER and depot (discover/relayMux.ts).
      connector: context.relays?.connector ?? input.connector,
      randomBytes: input.randomBytes,
      rtc: input.rtc ? { RTCPeerConnection: input.rtc.RTCPeerConnection, config: { iceServers: ice_servers as RTCIceServer[] } } : undefined,
      openDirectTransport: input.openDirectTransport,
      // Whom this device looks for on the topic: my devices all seek the contact's key, never each other (discover/session.ts).
      ...(contact.public_key === undefined ? {} : { seek: contact.public_key }),
      timeouts: input.discoverTimeouts,
      // The relayed channel's keepalive runs on the app's clock (a SimulatedClock in tests).
      ...(input.clock ? { clock: input.clock } : {}),
    },
  };
}

/**
 * The id of the link on a card's previous key (after a rotation), beside its own link: its actor's
 * (`linkId` of it) and its relay connection's in `relayUp`. What it reports names the card itself.
 */
export const previousLinkOf = (contactId: DocId): DocId => `${contactId}-previous`;

/**
 * The links a card runs: its own on the first key, and one on the key before it (rotated: the
 * contact's devices, or mine, that were away learn the next key there). The second runs as
 * {@link previousLinkOf} the card and reports under the card's id marked `previous` (the app keeps
 * it from the card's presence and removal).
 */
export function linkInputs(context: Source, contact: Contact, own = false): { id: DocId; input: ContactLinkInput }[] {
  const previous = contact.channels[1];
  return [
    { id: contact.id, input: linkInput(context, contact, own) },
    ...(previous === undefined
      ? []
      : [{ id: previousLinkOf(contact.id), input: { ...linkInput(context, { ...contact, channels: [previous] }, own), previous: true } }]),
  ];
}

/** Device links run under their own appid: a link code never redeems as a contact invite, nor one as the other. */
export const linkAppidOf = (appid: string) => `${appid}/link-device`;

/** A device link's part of the pairing input: offer our set (signing the new device in), or receive one. */
export function linkOf(context: Source, role: 'offer' | 'receive'): PairingLink {
  const db = context.db!;
  const clock = context.input.clock ?? systemClock;
  const now = () => clock.now();
  return role === 'offer' ? { role, bundle: (peer) => linkBundleFor(db, peer, now()) } : { role, deviceId: db.deviceId };
}

/** The pairing machine's input: our relay from Settings, the injected effects, the code when accepting, our device key. */
export function pairingInput(context: Source, code?: string, link?: PairingLink): PairingInput {
  const { input } = context;
  return {
    publicKey: context.publicKey,
    appid: link ? linkAppidOf(input.appid) : input.appid,
    ...(link ? { link } : {}),
    url: context.settings!.relay_server,
    connector: input.connector,
    randomBytes: input.randomBytes,
    timeouts: input.pairingTimeouts,
    code,
    // Our inviters show a code only once their PAKE waits in the mailbox: finding nobody means expired.
    ...(code === undefined ? {} : { expectPeer: true }),
  };
}

/** The relay check's input: the relay in Settings. */
export function relayCheckInput(context: Source): RelayCheckInput {
  // DISCOVER's question rides the device's multiplexed socket when it has one (no extra connection).
  return {
    relay: context.settings!.relay_server,
    connector: context.input.connector,
    clock: context.input.clock,
    ...(context.relays ? { discoverConnector: context.relays.connector } : {}),
  };
}
