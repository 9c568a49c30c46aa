/**
 * `@backchannel/sdk/machines`: the XState machines and their inputs, for the Stately inspector and
 * for hosts that run a layer themselves. `createBackchannel` runs all of them for you.
 * @module
 */
// `appMachine` names its effects; `backchannelApp` is it with the façade's actors provided (what createBackchannel runs).
export { backchannelApp, appActors } from '../app/actors.js';
export type { RelayCheckVia } from '../app/relayCheck.js';
export {
  appMachine,
  relayStatus,
  type AppInput,
  type AppEvent,
  type AppEmitted,
  type AppContext,
  type SettingsPatch,
  type MessageInput,
  type ContactOp,
  type Opened,
  type RelayCheckInput,
  type RelayChecked,
  type Via,
  type RelayStatus,
} from './appMachine.js';
export type { FileOut, CancelledFile, OwnDevicesSaved } from './appTypes.js';
export type { LinkBundle, LinkedContact } from '../devices/linkBundle.js';
export type { DeviceLinkRecord } from '../devices/linkRecord.js';
export type { Adopted } from '../devices/adopt.js';
export type { FileCommand } from '../files/fileActor.js';
export type { FileEvent, Direction, FileRoute } from '../files/session.js';
export type { FileRefusal, FileRefusalReason } from '../files/refusal.js';
export {
  pairingMachine,
  type PairingAnnouncement,
  type PairingOutput,
  type PairingEvent,
  type PairingStep,
  type PairingActor,
  type PairingInput,
  type PairingLink,
  type FromWormhole,
} from './pairingMachine.js';
export {
  wormholeMachine,
  DEFAULT_TIMEOUTS,
  type WormholeInput,
  type WormholeTimeouts,
  type WormholeOutput,
  type WormholeEvent,
  type WormholeEmitted,
  type WormholeMachine,
  type WormholeContext,
} from './wormholeMachine.js';
export type { Outbound, UpgradeRefusal } from './wormhole/types.js';
export {
  discoverMachine,
  DEFAULT_DISCOVER_TIMEOUTS,
  type DiscoverInput,
  type DiscoverTimeouts,
  type DiscoverEvent,
  type DiscoverEmitted,
  type DiscoverContext,
  type DiscoverPeer,
  type DiscoverTimerEvent,
} from './discoverMachine.js';
export { contactLinkMachine, type ContactLinkInput, type ContactLinkContext, type LinkPeer, type LinkPresence } from './contactLinkMachine.js';
export { syncMachine, type SyncInput } from './syncMachine.js';
export type { Mood } from '../wormhole/messages.js';
export type { SessionEvent, SessionCommand } from '../discover/session.js';
export { socketActor, type SocketEvent, type SocketCommand } from './socketActor.js';
export { redactInspection, redactingInspector, SECRET_FIELDS, type InspectOption, type InspectedActor } from '../inspect.js';
