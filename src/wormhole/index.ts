/**
 * `@backchannel/sdk/wormhole`: a magic-wormhole client (interoperates with the `wormhole` CLI) and
 * the code word lists.
 * @module
 */
export { Wormhole, type WormholeOptions, type Verified } from './wormhole.js';
export { generateCode, chooseWords, MAX_CODE_LENGTH } from '../code/code.js';
export { EVEN_WORDS, ODD_WORDS } from '../code/wordlist.js';
export {
  sendFile,
  receive,
  parseOffer,
  offerSize,
  FILE_TRANSFER_APPID,
  type FileOffer,
  type FileOfferBody,
  type DirectoryOfferBody,
  type FileSink,
  type SendFileOptions,
  type ReceiveOptions,
  type Received,
} from './fileTransfer.js';
export { connectTransit, TransitPipe, MAX_RECORD_BYTES, type ConnectTransitOptions } from './transitConnection.js';
export { parseTransitHelper, formatTransitHelper, transitMessage, relayHintsOf, type TransitMessage } from './transitHints.js';
export type { ByteStream, ByteStreamAddress, ByteStreamConnector } from '../effects/byteStream.js';
export { deriveTransitKey, transitHandshake, relayHandshake, relayToken, recordKeys, type TransitRole } from './transitKeys.js';
export { RecordSealer, RecordOpener, counterNonce } from './transitRecords.js';
