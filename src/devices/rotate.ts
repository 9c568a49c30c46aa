/**
 * Key rotation after an unlink (docs/threat-model.md, Unlinking and key rotation): the unlinking
 * device draws a new set key and a new key per contact, sealed to the devices that read on
 * (rekey.ts), and moves to them; the other devices — mine and the contacts' — move when they read a
 * notice they trust. The unlinked device holds none of the boxes: what is written after the move, in
 * the new channels, never reaches it. What it synced before stays with it.
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.js';
import type { RandomBytes } from '../crypto/spake2.js';
import { documentId, type Contact, type Database } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import { deviceSetNotice, type DeviceSetStatement } from './notices.js';
import { makeRekey, openRekey, pickRekey, rekeyText, type RekeyNotice } from './rekey.js';
import { unlinkNotice } from './selfLink.js';
import { unlinkEdges, unlinkStanding, unlinkTarget, type UnlinkStanding } from './unlinks.js';

/** What a rotation or an adoption changed: the set key moved, and the contacts now on a new key. */
export interface Rekeyed {
  set: boolean;
  contacts: DocId[];
}

/** Our own channels this device holds: the current one and the one before the last rotation (a device away reads both). */
function ownChannels(db: Database): DocId[] {
  const previous = db.previousSetKey();
  const ids = [db.selfChannel(), previous && documentId(previous)];
  return ids.filter((id): id is DocId => id !== undefined && db.docs.has(id));
}

/**
 * My devices' standing under the unlink notices of our own channels (devices/unlinks.ts): a notice
 * counts only if it verifies with the key of the device of mine it names as its sender (a sender is
 * otherwise self-asserted), and only if that device is not itself unlinked by a notice that counts.
 */
export function ownStanding(db: Database): UnlinkStanding {
  const keys = new Map([[db.deviceId, db.publicKey], ...db.ownDevices().map((d) => [d.device_id, d.public_key] as const)]);
  const edges = ownChannels(db).flatMap((channel) => unlinkEdges(channel, db.messages(channel), keys));
  return unlinkStanding(edges, new Set(keys.keys()));
}

/** The device of mine whose unlink of this device counts (signature checked, signer standing), if one does: the façade then wipes this one. */
export function unlinkedThisBy(db: Database): string | undefined {
  return ownStanding(db).by.get(db.deviceId);
}

/** The public keys of my devices trusted to rotate: this one, and every other neither unlinked nor contested. */
function myKeys(db: Database, standing = ownStanding(db)): Set<string> {
  return new Set([
    db.publicKey,
    ...db
      .ownDevices()
      .filter((d) => !standing.out.has(d.device_id) && !standing.contested.has(d.device_id))
      .map((d) => d.public_key),
  ]);
}

/** `f`, called once at most: the standing is read only when a notice needs it, and once per pass. */
function once<T>(f: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: f() }).v;
}

/**
 * Forget the devices of mine that a notice that counts unlinked (never this one: the façade wipes
 * it), and say so in our own channels in my name too: a device away that later reads the unlinked
 * device's counter-unlink beside them finds it outvoted (devices/unlinks.ts). As in
 * {@link finishUnlink}, the notices first (once per channel, a crash may have written some), the
 * device forgotten after: a crash between never leaves it forgotten without my notice.
 */
async function forgetUnlinked(db: Database): Promise<void> {
  const { out } = ownStanding(db);
  const channels = ownChannels(db);
  for (const d of db.ownDevices()) {
    if (!out.has(d.device_id)) continue;
    for (const channel of channels) if (!unlinksIn(db, channel).includes(d.device_id)) await db.sendMessage(channel, { text: unlinkNotice(d.device_id) });
    await db.removeOwnDevice(d.device_id);
  }
}

/**
 * The unlink that begins a rotation, each step done once (a crash may have cut it short anywhere): my
 * notice in our own channel, then the device forgotten (only ever after its notice). Nothing sealed
 * from here on reaches it, even where its counter-unlink leaves the two of us contested.
 */
export async function finishUnlink(db: Database, deviceId: string): Promise<void> {
  if (!db.ownDevices().some((d) => d.device_id === deviceId)) return;
  const self = db.selfChannel();
  if (self !== undefined && !unlinksIn(db, self).includes(deviceId)) await db.sendMessage(self, { text: unlinkNotice(deviceId) });
  await db.removeOwnDevice(deviceId);
}

/** The devices my own unlink notices in `channel` name. */
function unlinksIn(db: Database, channel: DocId): string[] {
  return db
    .messages(channel)
    .filter((m) => m.sender === db.deviceId)
    .map((m) => unlinkTarget(m.text))
    .filter((t): t is string => t !== undefined);
}

/**
 * The devices a pending rotation unlinks: the one its marker names, or (a marker an older version
 * wrote, the `at` alone) those my unlink notices in our own channel name that I have not forgotten.
 */
function pendingUnlinks(db: Database): string[] {
  const pending = db.rotationPending();
  if (pending === undefined) return [];
  if (pending.unlink !== undefined) return [pending.unlink];
  const self = db.selfChannel();
  const mine = new Set(db.ownDevices().map((d) => d.device_id));
  return self === undefined ? [] : unlinksIn(db, self).filter((id) => mine.has(id));
}

/** My own rekey notice of `kind` for `channel` signed at `at`, if `channel` holds one (`field`: where its kind keeps notices). */
function mineAt(db: Database, channel: DocId, kind: RekeyNotice['kind'], at: number): RekeyNotice | undefined {
  const n = pickRekey(db.rekeyTexts(channel, kind === 'set' ? 'text' : 'notice'), { kind, channel, me: db.publicKey }, (by) => by === db.publicKey);
  return n?.at === at ? n : undefined;
}

/**
 * Rotate after unlinking (the device is already forgotten, its notice written): a new set key for my
 * remaining devices, then a new key per contact I still talk to whose card names its device key (the
 * contact's proven set and my remaining devices get a box each). `randomBytes`: the new keys and boxes.
 *
 * Every box is sealed to this device too, and the rotation is marked pending (its `at`) until every
 * key moved: after a crash, {@link adoptRekeys} calls this again with the same `at`, and each step
 * already signed is finished from its own notice (opened with this device's key) rather than drawn
 * anew — the contact may already have moved to it.
 */
export async function rotateKeys(db: Database, randomBytes: RandomBytes, now: number): Promise<Rekeyed> {
  const sign = (m: Uint8Array) => db.sign(m);
  const open = opener(db);
  // Kept as marked (its unlink named): a crash from here on resumes the same rotation.
  if (db.rotationPending()?.at !== now) await db.setRotationPending(now);
  // Only to the devices that stay mine: not one unlinked, nor one in a contested unlink.
  const mine = myKeys(db);
  const oldSelf = db.selfChannel();
  const previous = db.previousSetKey();
  const contactNotices: RekeyNotice[] = [];
  let set = false;
  if (oldSelf !== undefined && !(previous !== undefined && db.docs.has(documentId(previous)) && mineAt(db, documentId(previous), 'set', now))) {
    const signed = mineAt(db, oldSelf, 'set', now);
    const opened = signed && openRekey(signed, db.publicKey, open);
    const next = opened ?? randomBytes(32);
    if (!opened)
      await db.sendMessage(oldSelf, {
        text: rekeyText(makeRekey({ kind: 'set', channel: oldSelf, at: now, by: db.publicKey }, next, mine, sign, randomBytes)),
      });
    await db.rekeySet(next);
    set = true;
  }
  const statement = db.deviceSetStatement(now);
  const rekeyed: DocId[] = [];
  for (const contact of db.contacts()) {
    if (contact.removed_by !== undefined || contact.public_key === undefined) continue;
    // Moved already (a rotation resumed): its notice is in a channel the card has left.
    const moved = db
      .channelsOf(contact)
      .slice(1)
      .map((id) => mineAt(db, id, 'contact', now))
      .find((n) => n !== undefined);
    if (moved) {
      contactNotices.push(moved);
      continue;
    }
    const notice = await rotateContact(db, contact, randomBytes, now, statement, mine);
    contactNotices.push(notice);
    rekeyed.push(contact.id);
  }
  // My remaining devices learn each contact's next key through our own (new) channel.
  const self = db.selfChannel();
  if (self !== undefined && mine.size > 1) {
    const told = new Set(db.rekeyTexts(self, 'text'));
    for (const n of contactNotices) if (!told.has(rekeyText(n))) await db.sendMessage(self, { text: rekeyText(n) });
  }
  await db.setRotationPending(undefined);
  return { set, contacts: rekeyed };
}

/**
 * One contact's next key (a step of {@link rotateKeys}, or a rotation again after a race): sealed to
 * the contact's proven set, my devices (`mine`: {@link myKeys}, read once per rotation) and this one,
 * signed, written into its channel beside my set, and the card moved. A notice of mine already signed
 * at `now` there (a crash) is finished instead.
 */
async function rotateContact(
  db: Database,
  contact: Contact,
  randomBytes: RandomBytes,
  now: number,
  statement: DeviceSetStatement,
  mine: ReadonlySet<string>,
): Promise<RekeyNotice> {
  const sign = (m: Uint8Array) => db.sign(m);
  const channel = db.channelOf(contact);
  const signed = mineAt(db, channel, 'contact', now);
  const opened = signed && openRekey(signed, db.publicKey, opener(db));
  const next = opened ?? randomBytes(32);
  const theirs = db.provenSet(contact).keys;
  const notice =
    signed && opened
      ? signed
      : makeRekey({ kind: 'contact', channel, at: now, by: db.publicKey, set: statement }, next, new Set([...theirs, ...mine]), sign, randomBytes);
  if (!opened) {
    // My set without the unlinked device, in the old channel too: the contact drops it there as well.
    await db.sendMessage(channel, { notice: deviceSetNotice(statement) });
    await db.sendMessage(channel, { notice: rekeyText(notice) });
  }
  // The contact's set, as its channels prove it now, goes along: the card keeps CONTACT_KEYS channels,
  // and a contact away through as many rotations would otherwise lose the one holding its statements.
  const theirStatements = db.provenStatements(contact);
  await db.rekeyContact(contact.id, next);
  const moved = documentId(next);
  const there = new Set(db.messages(moved).map((m) => m.notice));
  for (const s of [statement, ...theirStatements.map(statementOnly)]) {
    const text = deviceSetNotice(s);
    if (!there.has(text)) await db.sendMessage(moved, { notice: text });
  }
  return notice;
}

/** A verified statement with only the fields it signs (as a notice carried it, it may hold more). */
function statementOnly(s: DeviceSetStatement): DeviceSetStatement {
  const devices = s.devices.map((d) => ({ device_id: d.device_id, public_key: d.public_key }));
  return { devices, at: s.at, by: s.by, ...(s.signs === true ? { signs: true as const } : {}), signature: s.signature };
}

/** The rekey notice a contact's channels or our own channel hold for `contact`'s current key, if one is for me. */
function contactRekeyFor(db: Database, contact: Contact, myTrusted: () => Set<string>): RekeyNotice | undefined {
  const channel = db.channelOf(contact);
  const self = db.selfChannel();
  const texts = [
    // The contact's rotation, in the channel it replaces; a copy my devices or the contact's pass on in our own.
    ...db.rekeyTexts(channel, 'notice'),
    ...(self !== undefined ? db.rekeyTexts(self, 'text') : []),
  ];
  // Most channels hold none: the sets are read only when one is there.
  if (texts.length === 0) return undefined;
  const theirs = db.provenSet(contact).keys;
  const left = leftOutBy(texts, channel, theirs);
  const mine = myTrusted();
  return pickRekey(texts, { kind: 'contact', channel, me: db.publicKey }, (by) => (theirs.has(by) && !left.has(by)) || (mine.has(by) && by !== db.publicKey));
}

const opener = (db: Database) => (box: Uint8Array) => db.openSealed(box);

/** Which rotation of our previous own channel won (mine or another device's: two may race), if any. */
function setRaceWinner(db: Database): RekeyNotice | undefined {
  const previous = db.previousSetKey();
  if (previous === undefined || !db.docs.has(documentId(previous))) return undefined;
  const channel = documentId(previous);
  const mine = myKeys(db);
  return pickRekey(db.rekeyTexts(channel, 'text'), { kind: 'set', channel }, (by) => mine.has(by));
}

/** The contact's keys that a trusted rotation of `channel` by one of the contact's devices left out of its new set. */
function leftOutBy(texts: readonly (string | undefined)[], channel: DocId, theirs: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const text of texts) {
    const n = pickRekey([text], { kind: 'contact', channel }, (by) => theirs.has(by));
    if (!n?.set) continue;
    const kept = new Set(n.set.devices.map((d) => d.public_key));
    for (const k of theirs) if (!kept.has(k) && k !== n.by) out.add(k);
  }
  return out;
}

/**
 * Races: another device rotated the channel I rotated too (or moved to), and its rotation wins (the
 * latest `at`, then the smaller signature, as every device picks): the keys to move to instead, the
 * earlier ones kept.
 */
function raceMoves(db: Database): { set?: Uint8Array; contacts: [DocId, Uint8Array][] } {
  const out: { set?: Uint8Array; contacts: [DocId, Uint8Array][] } = { contacts: [] };
  const w = setRaceWinner(db);
  const key = w && w.by !== db.publicKey ? openRekey(w, db.publicKey, opener(db)) : undefined;
  if (key && toHex(key) !== toHex(db.setKey())) out.set = key;
  const mine = myKeys(db);
  for (const card of db.contacts()) {
    if (card.removed_by !== undefined || card.channels.length < 2) continue;
    const channel = documentId(fromHex(card.channels[1]!));
    if (!db.docs.has(channel)) continue;
    const texts = db.rekeyTexts(channel, 'notice');
    if (texts.length === 0) continue;
    // A contact's device that a rotation of the contact's left out of its set may not win a race: it
    // would pick the key (the latest \`at\` is its to write) and take the channel over.
    const theirs = db.provenSet(card).keys;
    const left = leftOutBy(texts, channel, theirs);
    const n = pickRekey(texts, { kind: 'contact', channel }, (by) => (theirs.has(by) && !left.has(by)) || mine.has(by));
    const next = n && n.by !== db.publicKey ? openRekey(n, db.publicKey, opener(db)) : undefined;
    if (next && toHex(next) !== card.channels[0]) out.contacts.push([card.id, next]);
  }
  return out;
}

/**
 * After a race, the winning rotation may have been sealed to a device another rotation unlinked (each
 * device left out only the one it unlinked): the device that signed it rotates again, from the keys
 * every device now moves to.
 */
function mustRotateAgain(db: Database): boolean {
  const w = setRaceWinner(db);
  if (w?.by !== db.publicKey) return false;
  const gone = ownStanding(db).out;
  const set = new Set([
    db.publicKey,
    ...db
      .ownDevices()
      .filter((d) => !gone.has(d.device_id))
      .map((d) => d.public_key),
  ]);
  return Object.keys(w.sealed).some((k) => !set.has(k));
}

/**
 * Both sides rotated a contact's channel at once (each unlinking a device of its own): every device
 * picks the same winner, but its boxes went to the sets as its signer knew them — one may be a device
 * the other side unlinked. The cards whose winning rotation is mine, is the key I am on, and holds a
 * box for a key in neither my set (devices not unlinked) nor the contact's proven set now: I rotate
 * those again, from the winning channel (the contact's new set is in the channel it raced in, beside
 * its notice). Once: the channel rotated again holds my notice alone.
 */
function contactsToRotateAgain(db: Database): Contact[] {
  const out: Contact[] = [];
  let allowedMine: Set<string> | undefined;
  for (const card of db.contacts()) {
    if (card.removed_by !== undefined || card.public_key === undefined || card.channels.length < 2) continue;
    const raced = documentId(fromHex(card.channels[1]!));
    const texts = db.rekeyTexts(raced, 'notice');
    if (texts.length < 2) continue;
    const theirs = db.provenSet(card).keys;
    allowedMine ??= (() => {
      const { out: gone } = ownStanding(db);
      return new Set([
        db.publicKey,
        ...db
          .ownDevices()
          .filter((d) => !gone.has(d.device_id))
          .map((d) => d.public_key),
      ]);
    })();
    const mine = allowedMine;
    const signers = new Set<string>();
    for (const t of texts) {
      const n = pickRekey([t], { kind: 'contact', channel: raced }, (by) => theirs.has(by) || mine.has(by));
      if (n) signers.add(n.by);
    }
    // A race is rotations by both sides (mine alone, or the contact's alone, is no race).
    if (![...signers].some((k) => mine.has(k)) || ![...signers].some((k) => theirs.has(k) && !mine.has(k))) continue;
    const w = pickRekey(texts, { kind: 'contact', channel: raced }, (by) => theirs.has(by) || mine.has(by));
    if (w?.by !== db.publicKey) continue;
    const key = openRekey(w, db.publicKey, opener(db));
    if (!key || toHex(key) !== card.channels[0]) continue;
    if (Object.keys(w.sealed).some((k) => !mine.has(k) && !theirs.has(k))) out.push(card);
  }
  return out;
}

/**
 * Take in the rotations sealed to this device: our own channel's next set key (signed by a device of
 * mine not unlinked there), then each contact's next key (signed by a device of the contact's proven
 * set, or one of mine). A device of the contact's that moves passes the notice on to its own other
 * devices, and tells the contact its set in the new channel. Devices unlinked in our own channel are
 * forgotten here too.
 */
export async function adoptRekeys(db: Database, randomBytes?: RandomBytes): Promise<Rekeyed> {
  const out: Rekeyed = { set: false, contacts: [] };
  // An unlink of mine a crash cut short is finished first: the device is trusted with nothing more.
  for (const id of pendingUnlinks(db)) await finishUnlink(db, id);
  // Devices unlinked in our previous own channel too (a race: another device's unlink is there).
  await forgetUnlinked(db);
  const race = raceMoves(db);
  if (race.set) await db.moveSetKey(race.set);
  out.set = race.set !== undefined;
  for (const [id, key] of race.contacts) {
    // What this device wrote under the losing key stays readable: carried into the winner's channel
    // first (again after a crash: the copies keep their ids), then the card moves.
    await db.carryMessages(db.channelOf(db.contact(id)), documentId(key));
    await db.replaceContactKey(id, key);
    out.contacts.push(id);
  }
  // A chain of rotations (bounded: each move is to a channel the last one named).
  for (let i = 0; i < 8; i++) {
    const self = db.selfChannel();
    if (self === undefined) break;
    await forgetUnlinked(db);
    const mine = myKeys(db);
    const n = pickRekey(db.rekeyTexts(self, 'text'), { kind: 'set', channel: self, me: db.publicKey }, (by) => mine.has(by) && by !== db.publicKey);
    const key = n && openRekey(n, db.publicKey, (box) => db.openSealed(box));
    if (!key || toHex(key) === toHex(db.setKey())) break;
    await db.rekeySet(key);
    out.set = true;
  }
  // My set without the unlinked devices, signed by this one too: a contact then trusts none of them
  // through a statement of mine that still named them (each signer's newest statement counts).
  if (out.set)
    for (const contact of db.contacts())
      if (contact.removed_by === undefined) await db.sendMessage(db.channelOf(contact), { notice: deviceSetNotice(db.deviceSetStatement()) });
  const trusted = once(() => myKeys(db));
  for (const contact of db.contacts()) {
    if (contact.removed_by !== undefined) continue;
    let card = contact;
    for (let i = 0; i < 8; i++) {
      const n = contactRekeyFor(db, card, trusted);
      const key = n && openRekey(n, db.publicKey, (box) => db.openSealed(box));
      if (!n || !key || card.channels.includes(toHex(key))) break;
      const fromContact = db.provenSet(card).keys.has(n.by);
      // The device the card trusted the contact's set from left it: trust the one that rotated.
      const root = fromContact && n.set && card.public_key && !n.set.devices.some((d) => d.public_key === card.public_key) ? n.by : undefined;
      card = await db.rekeyContact(card.id, key, root);
      out.contacts.push(card.id);
      if (!fromContact) continue;
      // The contact's rotation: my set in the new channel (it trusts my other devices there), and my
      // other devices told (the contact's notice may reach only this one).
      if (db.ownDevices().length > 0) await db.sendMessage(documentId(key), { notice: deviceSetNotice(db.deviceSetStatement()) });
      const self = db.selfChannel();
      if (self !== undefined && db.ownDevices().length > 0) await db.sendMessage(self, { text: rekeyText(n) });
    }
  }
  // A rotation of mine a crash cut short: finish it from what it signed.
  const pending = db.rotationPending();
  if (randomBytes !== undefined && pending !== undefined) {
    const resumed = await rotateKeys(db, randomBytes, pending.at);
    out.set ||= resumed.set;
    out.contacts.push(...resumed.contacts);
  }
  // A race across people: the winning key of mine may have reached a device the contact unlinked.
  if (randomBytes !== undefined) {
    const again = contactsToRotateAgain(db);
    const notices: RekeyNotice[] = [];
    if (again.length > 0) {
      const now = db.now();
      const statement = db.deviceSetStatement(now);
      const mine = myKeys(db);
      for (const card of again) {
        notices.push(await rotateContact(db, card, randomBytes, now, statement, mine));
        out.contacts.push(card.id);
      }
    }
    const self = db.selfChannel();
    if (self !== undefined && db.ownDevices().length > 0) for (const n of notices) await db.sendMessage(self, { text: rekeyText(n) });
  }
  if (randomBytes !== undefined && mustRotateAgain(db)) {
    const again = await rotateKeys(db, randomBytes, db.now());
    out.set ||= again.set;
    out.contacts.push(...again.contacts);
  }
  return out;
}

/** Whether {@link adoptRekeys} would change anything: a cheap look first (no box opened unless a notice is for me). */
export function rekeyWaiting(db: Database): boolean {
  if (db.rotationPending() !== undefined || mustRotateAgain(db) || contactsToRotateAgain(db).length > 0) return true;
  const race = raceMoves(db);
  if (race.set || race.contacts.length > 0) return true;
  const self = db.selfChannel();
  const trusted = once(() => myKeys(db));
  if (self !== undefined) {
    const mine = trusted();
    const n = pickRekey(db.rekeyTexts(self, 'text'), { kind: 'set', channel: self, me: db.publicKey }, (by) => mine.has(by) && by !== db.publicKey);
    if (n && openRekey(n, db.publicKey, (box) => db.openSealed(box))) return true;
  }
  for (const contact of db.contacts()) {
    if (contact.removed_by !== undefined) continue;
    const n = contactRekeyFor(db, contact, trusted);
    const key = n && openRekey(n, db.publicKey, (box) => db.openSealed(box));
    if (key && !contact.channels.includes(toHex(key))) return true;
  }
  return false;
}
