/**
 * The app machine's vocabulary: its input, context, the events it takes and the events it emits
 * (requests carry a `req` number; their answers carry the same), and the relay status rule.
 * @module
 */
import type { Via } from '../discover/session.js';
import type { RelayMux } from '../discover/relayMux.js';
import type { Contact, Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import type { FileRef, IceServer, Message, SettingsDoc } from '../db/schema.js';
import type { Clock } from '../effects/clock.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { StorageAdapter } from '../effects/storage.js';
import type { BackchannelError, RelayOutdatedError, RelayUnsupportedError, TopicUnprovenError } from '../errors.js';
import type { DirectTransportFactory, RtcImplementation } from '../discover/session.js';
import type { Journal } from '../journal/journal.js';
import type { LinkPresence } from './contactLinkMachine.js';
import type { Direction } from '../files/session.js';
import type { FileSource } from '../files/source.js';
import type { DiscoverTimeouts } from './discoverMachine.js';
import type { PairingAnnouncement, PairingOutput, PairingStep } from './pairingMachine.js';
import type { OwnDevice } from '../devices/linkBundle.js';
import type { WormholeTimeouts } from './wormholeMachine.js';

/** What the app machine is started with: the injected effects, the appid and relay, and optional timeouts and journal. */
export interface AppInput {
  storage: StorageAdapter;
  connector: SocketConnector;
  randomBytes: RandomBytes;
  /** The appid pairings run under (the façade passes Backchannel's). */
  appid: string;
  /** The mailbox relay to use; saved to Settings when it differs. Required unless Settings hold one. */
  relay?: string;
  rtc?: Pick<RtcImplementation, 'RTCPeerConnection'>;
  /** How an open WebRTC data channel becomes a Transport (the façade passes openWebRtcTransport). */
  openDirectTransport?: DirectTransportFactory;
  clock?: Clock;
  pairingTimeouts?: Partial<WormholeTimeouts>;
  discoverTimeouts?: Partial<DiscoverTimeouts>;
  /** The event journal (it observes this actor's system); written out before storage closes. */
  journal?: Journal;
  /**
   * How contacts reach the relay's DISCOVER endpoint: `shared` (the default), one socket per relay for
   * every contact's DISCOVER and depot (discover/relayMux.ts); `per-contact`, two sockets per contact as
   * devices did before (kept so `npm run bench` can compare).
   */
  relayConnections?: 'shared' | 'per-contact';
  /** Files up to this many bytes wait for an away contact on the relay's depot (default DEFAULT_RELAY_FILE_BYTES, depot/fileRoute.ts). */
  relayFileBytes?: number;
}

/** The relay check's input (`app/relayCheck.ts` implements it): does the relay serve DISCOVER? */
export interface RelayCheckInput {
  /** The mailbox URL from Settings, `ws://host:port/v1`. */
  relay: string;
  connector: SocketConnector;
  clock?: Clock;
}

/** What the check tells the app: supported, or not (with the error for the host). */
export type RelayChecked = { type: 'relay.checked'; unsupported?: RelayUnsupportedError };

/** How a contact is connected: `direct` (WebRTC) or `relayed` (one meaning, DISCOVER's). */
export type { Via };
/**
 * The relay as the links see it: any link connected → `reachable`; all retrying → `unreachable`; no
 * links → `unknown`; and `unsupported` when it does not serve DISCOVER at all (pairing only).
 */
export type RelayStatus = 'reachable' | 'unreachable' | 'unknown' | 'unsupported';

/** The outdated-relay warning for the relay the settings name now (one about an earlier relay holds no more). */
export function relayOutdatedOf(context: Pick<AppContext, 'relayOutdated' | 'settings'>): RelayOutdatedError | undefined {
  const error = context.relayOutdated;
  return error && error.data.relay === context.settings?.relay_server ? error : undefined;
}

/** The relay's status as the links report it (see {@link RelayStatus}). */
export function relayStatus(context: Pick<AppContext, 'relayUp' | 'relayUnsupported'>): RelayStatus {
  if (context.relayUnsupported) return 'unsupported';
  const seen = Object.values(context.relayUp);
  return seen.length === 0 ? 'unknown' : seen.some(Boolean) ? 'reachable' : 'unreachable';
}
/** The settings a `settings.update` request may change; the fields left out stay as they are. */
export type SettingsPatch = { relay_server?: string; ice_servers?: IceServer[]; file_size_limit?: number };
/** A message to send: its text, a file already stored, or both. */
export type MessageInput = { text?: string; file?: FileRef };

/** A file to send: its bytes (read piece by piece, never whole) and what its message says of it. */
export interface OutgoingFile {
  data: FileSource;
  filename: string;
  mimetype: string;
  /** Its size when known beforehand (a Blob's, a file's on disk): refused at once when over the limit. */
  size?: number;
}

/** A file waiting its turn to be stored and announced (`files` region; the head is the one running). */
export type FileOut = { req: number; contactId: DocId; file: OutgoingFile; text?: string; signal?: AbortSignal };

/** What cancelling a file found: which way it was going and its size (for the host's `failed` event). */
export type CancelledFile = { direction: Direction; total: number };

/** How a file transfer stands, as the host hears it (`transfer` events). */
export type TransferStatus = 'waiting' | 'progress' | 'done' | 'failed';

/** A contacts request waiting its turn (the head is the one running). */
export type ContactOp =
  | { req: number; op: 'rename'; contactId: DocId; moniker: string }
  | { req: number; op: 'remove'; contactId: DocId }
  /**
   * Not the host's (no answer): forget a contact — one I removed whose notice the depot now holds
   * (`heads`), or one a device of mine removed (`by: 'device'`, told to the host).
   */
  | { req?: undefined; op: 'forget'; contactId: DocId; heads?: string[]; by?: 'device' }
  /** Not the host's: the contact removed me; keep its card (marked) and stop its link. */
  | { req?: undefined; op: 'peerRemoved'; contactId: DocId };

/** The app machine's state data: the open database, contacts, presence, pairing and file queues. */
export interface AppContext {
  input: AppInput;
  /** The database: an effect handle, used only by the actors and link inputs. */
  db?: Database;
  /**
   * This device's connections to relays' DISCOVER endpoint, one per relay, shared by every contact's
   * DISCOVER session and depot client (an effect handle, like `db`; it dials only when a link uses it).
   */
  relays?: RelayMux;
  /** What the machine decides with, kept here so transitions never read storage (replay is exact). */
  contacts: Contact[];
  /** The contact whose link `removing` stopped: back with its link if the removal fails. */
  unlinked?: Contact;
  /** Contacts I removed whose removal notice is not on the relay yet: still linked, never listed (devices/notices.ts). */
  leaving: Contact[];
  settings?: SettingsDoc;
  /** This device's public key (hex), from the System document. */
  publicKey?: string;
  firstStart: boolean;
  /** Contacts whose device is connected right now, and how. */
  presence: Record<DocId, Via>;
  /** Per link: is its connection to the relay up? (see {@link relayStatus}) */
  relayUp: Record<DocId, boolean>;
  /** Set when the relay check found the relay does not serve DISCOVER. */
  relayUnsupported?: RelayUnsupportedError;
  /** Set when a link's depot found the relay is from before reader tokens (told to the host once); see `relayOutdatedOf`. */
  relayOutdated?: RelayOutdatedError;
  /** The running pairing's request number, and the name its contact will get. */
  pairingReq: number;
  moniker: string;
  /** The running invite renews its code this often (ms); undefined: one code until answered. */
  inviteRefreshMs?: number;
  /** My devices' own channel (devices/selfLink.ts): linked beside the contacts, never listed as one. */
  self?: Contact;
  /** The running unlink request. */
  unlinking?: { req: number; deviceId: string };
  /** A device link's wormhole result while it is stored (`recordingDevice` / `adopting`). */
  linked?: { output: PairingOutput };
  /** VERIFY's result while `naming` saves the contact. */
  paired?: { contactKey: Uint8Array; verifier: string; publicKey?: string };
  contactOps: ContactOp[];
  /** Messages to write, in order: the host's (`req` > 0), and the app's own file refusal notices (`req` 0, files/refusal.ts). */
  outbox: { req: number; contactId: DocId; message: MessageInput & { notice?: string } }[];
  patches: { req: number; patch: SettingsPatch }[];
  /** Contacts whose last_seen waits to be written (one each); `announce`: a presence change to emit after. */
  sightings: { contactId: DocId; announce: boolean }[];
  /** Files to store and announce, in order; and transfers to cancel. */
  fileOuts: FileOut[];
  fileCancels: { req: number; contactId: DocId; hash: string }[];
  /**
   * Files sent from this device in this run whose arrival the contact has not confirmed yet, by hash:
   * when the contact's link drops (noticed late, maybe after the file was sent) they wait here, and the
   * host hears `waiting` again.
   */
  undelivered: Record<string, { contactId: DocId; total: number }>;
  /** CLOSE came: close once the queues are empty. */
  closeRequested: boolean;
  /** CLEAR came: close, and wipe this device's app data (contacts, channels, settings, journal) on the way. */
  clearRequested: boolean;
  error?: BackchannelError;
}

/** What the app machine takes: the host's requests (each with a `req` number), and the reports of its children. */
export type AppEvent =
  /** `refreshMs`: replace the code with a new one every period (the old one then fails CodeExpiredError). */
  | { type: 'pairing.invite'; req: number; moniker?: string; refreshMs?: number }
  | { type: 'pairing.accept'; req: number; code: string; moniker?: string }
  | { type: 'pairing.cancel' }
  /** Link another device of mine: show a code (answered `pairing.code`, then `device.linked`). */
  | { type: 'device.link'; req: number }
  /** Join the devices of whoever showed this link code (answered `device.joined`). */
  | { type: 'device.join'; req: number; code: string }
  /** Unlink a device of mine: it is told through our own channel and wipes itself (answered `device.unlinked`). */
  | { type: 'device.unlink'; req: number; deviceId: string }
  /** Devices another device of mine linked, announced in our own channel (the façade read them): remember them. */
  | { type: 'device.announced'; devices: OwnDevice[] }
  /** A rotation sealed to this device is waiting in a channel (the façade saw it): take it in. */
  | { type: 'device.rekey' }
  /** A removal notice arrived in the contact's channel (the façade read it): from the contact, or from a device of mine. */
  | { type: 'contact.left'; contactId: DocId; by: 'peer' | 'device' }
  | PairingAnnouncement
  | LinkPresence
  | RelayChecked
  | { type: 'contact.rename'; req: number; contactId: DocId; moniker: string }
  | { type: 'contact.remove'; req: number; contactId: DocId }
  | { type: 'message.send'; req: number; contactId: DocId; message: MessageInput }
  /** Something the contact's device sent arrived (the façade saw it): its last_seen is now. */
  | { type: 'contact.heard'; contactId: DocId }
  | { type: 'network.offline' }
  | { type: 'network.online' }
  | { type: 'settings.update'; req: number; patch: SettingsPatch }
  | ({ type: 'file.send' } & FileOut)
  | { type: 'file.cancel'; req: number; contactId: DocId; hash: string }
  | { type: 'CLOSE' }
  | { type: 'CLEAR' };

/** What the app machine tells the host: answers to requests (same `req`), and presence, transfer and relay news. */
export type AppEmitted =
  | { type: 'started'; firstStart: boolean }
  | { type: 'pairing.progress'; step: PairingStep | 'naming' }
  /** A code to show; with a refreshing invite, `lifetimeMs` until the next one replaces it. */
  | { type: 'pairing.code'; req: number; code: string; lifetimeMs?: number }
  | { type: 'pairing.failed'; req: number; error: BackchannelError }
  /** Refused: another invite or accept is still running. */
  | { type: 'pairing.busy'; req: number }
  | { type: 'contact.paired'; req: number; contact: Contact; verifier: string }
  /** A device of mine redeemed my link code: it is in my set now (and has my contacts). */
  | { type: 'device.linked'; req: number; device: OwnDevice; verifier: string }
  /** This device joined another's set: the contacts it now has. */
  | { type: 'device.joined'; req: number; devices: OwnDevice[]; contacts: Contact[]; verifier: string }
  | { type: 'device.unlinked'; req: number; deviceId: string; devices: OwnDevice[] }
  /** Devices a device of mine linked are now in my list too: the whole list. */
  | { type: 'devices.changed'; devices: OwnDevice[] }
  /**
   * A contact is gone without this device asking: `peer` — the contact removed me (`contact`: its card,
   * kept with `removed_by: 'peer'`, history readable, link stopped); `device` — a device of mine removed
   * it, and so does this one (card and channel forgotten).
   */
  | { type: 'contact.left'; contactId: DocId; by: 'peer' | 'device'; contact?: Contact }
  | { type: 'device.failed'; req: number; error: BackchannelError }
  | { type: 'contact.renamed'; req: number; contact: Contact }
  | { type: 'contact.removed'; req: number; contactId: DocId }
  | { type: 'contact.failed'; req: number; error: BackchannelError }
  | { type: 'message.sent'; req: number; contactId: DocId; message: Message }
  | { type: 'message.failed'; req: number; error: BackchannelError }
  /** The contact's device is connected (`via`) or not; `lastSeen`: its card's last_seen (ms, our clock). */
  | { type: 'presence'; contactId: DocId; via: Via | undefined; lastSeen?: number }
  /** The contact's last_seen was written: its card now. */
  | { type: 'contact.seen'; contact: Contact }
  | { type: 'deposited'; contactId: DocId; heads: string[] }
  | { type: 'refused'; contactId: DocId; reason: string; error?: TopicUnprovenError }
  | { type: 'relay'; status: RelayStatus; error?: RelayUnsupportedError }
  | { type: 'relayOutdated'; error: RelayOutdatedError }
  | { type: 'settings.updated'; req: number; settings: SettingsDoc }
  | { type: 'settings.failed'; req: number; error: BackchannelError }
  /**
   * A file transfer with a contact: `waiting` (the contact is away; the file waits sealed in the relay's
   * depot, or on this device until they are back: `route` says which), `progress` (bytes stored at the receiver / sent), `done`
   * (stored and its hash checked), `failed` (`error`: too large, corrupt, cancelled…).
   */
  | {
      type: 'transfer';
      contactId: DocId;
      hash: string;
      direction: Direction;
      status: TransferStatus;
      done: number;
      total: number;
      route?: 'device' | 'relay';
      /** Why a `waiting` file waits while the contact is there (their device takes no files yet), or on the device (the relay would not keep it). */
      reason?: string;
      error?: BackchannelError;
    }
  | { type: 'file.cancelled'; req: number; hash: string };

/** My devices after one was linked or unlinked, and our own channel's link (none once I am alone). */
export interface OwnDevicesSaved {
  devices: OwnDevice[];
  self?: Contact;
  /** Every contact card, after a key rotation moved some (devices/rotate.ts). */
  contacts?: Contact[];
  /** The cards that rotation moved to a new first key: their links start again on it. */
  moved?: DocId[];
}

/** What opening the database gives the app: the database, my key and devices' channel, contacts and settings. */
export interface Opened {
  db: Database;
  /** My devices' own channel, linked like a contact's (devices/selfLink.ts), once there are several. */
  self?: Contact;
  /** Contacts I removed whose notice is still on its way (see {@link AppContext.leaving}). */
  leaving: Contact[];
  /** This device's public key (hex): handed to a contact while pairing. */
  publicKey?: string;
  contacts: Contact[];
  settings: SettingsDoc;
  firstStart: boolean;
}
