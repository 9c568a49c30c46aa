/**
 * `@backchannel/sdk/wormhole`: a magic-wormhole client (interoperates with the `wormhole` CLI) and
 * the code word lists.
 * @module
 */
export { Wormhole, type WormholeOptions, type Verified } from './wormhole.js';
export { generateCode, chooseWords, MAX_CODE_LENGTH } from '../code/code.js';
export { EVEN_WORDS, ODD_WORDS } from '../code/wordlist.js';
