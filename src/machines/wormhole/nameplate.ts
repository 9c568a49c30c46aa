/**
 * The nameplate region's work: turn an allocated nameplate into a code (words drawn from the seed).
 * Claim and release are plain commands (see `resending` in transmit.ts).
 * @module
 */
import { chooseWords, formatCode } from '../../code/code.js';
import { derivedSource } from '../../crypto/derive.js';
import { announce, type Enqueue, type WormholeContext } from './types.js';

/** The server allocated `nameplate`: make the code, tell the outside, and let the key start. */
export function assignAllocatedCode(context: WormholeContext, nameplate: string, enqueue: Enqueue): void {
  const words = chooseWords(derivedSource(context.seed, 'code-words'), context.codeWords);
  const code = formatCode({ nameplate, words });
  enqueue.assign({ nameplate, code });
  announce(enqueue, { type: 'code', code, nameplate });
  enqueue.raise({ type: 'code.known' });
}
