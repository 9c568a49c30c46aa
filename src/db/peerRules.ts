/**
 * What a change that arrives from another device may do to our documents. A contact shares exactly one
 * kind of document with us, a channel, and in it may only add messages that it wrote: no edits or
 * deletions of existing messages (ours or its own), no other fields, no settings or contact cards.
 * The messages it adds are its own, or written by another device of its set as the channel proves it
 * (signed set notices, devices/notices.ts), or by a device of mine (DocumentStore checks the senders).
 * Who a change is from is self-asserted (the SYNC hello's `peer` id, a deposit's `sender`): it decides
 * only who may relay what. Who wrote a message is its signature (db/messageSignature.ts): one naming a
 * device of mine, or of the contact's proven set, must verify with that device's key.
 * Another device of the same user (over our own channel, or the multi-replica sync tests) is trusted
 * with any change the schema allows.
 *
 * How a change is read: Automerge's own patches between the heads before and after it
 * (`A.diff(after, headsBefore, headsAfter)`), not a comparison of the two views. Patches name exactly
 * the paths whose visible value changed, in order, each index relative to the list as the earlier
 * patches left it; replaying them over a "which element is new" list tells inserted messages from
 * edited old ones in time proportional to the change, not to the channel. Whatever the replay cannot
 * classify (a patch it does not expect, a length that does not add up) counts as forbidden, so an
 * Automerge version with new patch shapes fails closed.
 * @module
 */
import * as A from '@automerge/automerge';

/** Who another device is: a contact, or another device of this user. */
export type Trust = 'contact' | 'own-device';

/** Where a change comes from. `peer` is the device id the peer gave in its hello (when known). */
export interface ChangeSource {
  trust: Trust;
  peer?: string;
}

export interface ChannelEffect {
  /** Indices, in the new document, of the messages the change inserted. */
  inserted: number[];
  /** Indices, in the new document, of old messages it edited; undefined if it deleted or replaced some. */
  edited: number[] | undefined;
  /** What it did besides inserting messages, in words: all of it is forbidden to a contact. */
  other: string[];
}

const where = (path: A.Prop[]) =>
  path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p).slice(0, 64)}`))
    .join('')
    .slice(1);

const OLD = 0;
const NEW = 1;
const EDITED = 2;

/** Read what the change from `before` to `after` did to a channel document (see the module comment). */
export function channelEffect(before: A.Doc<unknown>, after: A.Doc<unknown>): ChannelEffect {
  const list = (before as { messages?: unknown }).messages;
  // What each element of the list is, as the patches so far left it.
  const state: number[] = Array.isArray(list) ? new Array<number>(list.length).fill(OLD) : [];
  const other: string[] = [];
  let removed = false;
  for (const patch of A.diff(after, A.getHeads(before), A.getHeads(after))) {
    const [root, index] = patch.path;
    if (root !== 'messages') {
      other.push(`changed ${where(patch.path)}`);
      continue;
    }
    if (typeof index !== 'number' || index > state.length) {
      other.push('replaced the message list');
      removed = true;
      continue;
    }
    if (patch.path.length === 2 && patch.action === 'insert') {
      state.splice(index, 0, ...patch.values.map(() => NEW));
    } else if (patch.path.length === 2 && patch.action === 'del') {
      const gone = state.splice(index, patch.length ?? 1);
      if (gone.some((s) => s !== NEW)) other.push(`deleted messages[${index}]`);
      removed = true;
    } else if (state[index] !== NEW) {
      other.push(`edited ${where(patch.path)}`);
      if (patch.path.length === 2)
        removed = true; // the element itself was replaced
      else state[index] = EDITED;
    }
  }
  const now = (after as { messages?: unknown }).messages;
  if (Array.isArray(now) && now.length !== state.length) {
    other.push('changed the message list in a way this version cannot follow');
    removed = true;
  }
  const indices = (s: number) => state.flatMap((x, i) => (x === s ? [i] : []));
  return { inserted: indices(NEW), edited: removed ? undefined : indices(EDITED), other };
}
