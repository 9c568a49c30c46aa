/**
 * The stories use the relay's pure parts from `@backchannel/sdk/server` (MailboxServer, DiscoveryServer,
 * Depot). That entry also exports `startRelay`, whose modules import Node built-ins at the top; a
 * production build drops them (unused), but Vite's dev server evaluates every module. These stand-ins
 * let those imports resolve in the browser; calling any of them says why it cannot work here.
 */
const unavailable =
  (name: string) =>
  (..._args: unknown[]): never => {
    throw new Error(`${name} is Node-only: the relay's network and disk parts do not run in Storybook.`);
  };

// node:crypto
export const createHash = unavailable('createHash');
export const randomBytes = unavailable('randomBytes');
export const createPublicKey = unavailable('createPublicKey');
export const verify = unavailable('verify');
// node:http
export const createServer = unavailable('createServer');
// node:path
export const dirname = unavailable('dirname');
export const join = unavailable('join');
export const relative = unavailable('relative');
export const sep = '/';
// node:fs/promises
export const mkdir = unavailable('mkdir');
export const open = unavailable('open');
export const readFile = unavailable('readFile');
export const readdir = unavailable('readdir');
export const rename = unavailable('rename');
export const rm = unavailable('rm');
export const stat = unavailable('stat');
export const unlink = unavailable('unlink');
// ws
export const WebSocketServer = unavailable('WebSocketServer');
export default {};
