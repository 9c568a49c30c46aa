/**
 * The appid Backchannel pairs under, on its own so the relay can name it without loading pairing.
 * @module
 */

/** The appid Backchannel pairs under; a wormhole client on another appid never meets ours. */
export const BACKCHANNEL_APPID = 'backchannel.dev/pair/v1';
