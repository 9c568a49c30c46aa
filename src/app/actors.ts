/**
 * The effects `appMachine` names, implemented: the database and its writes, the pairing machine, the
 * contact links and the relay check. The façade runs {@link backchannelApp}, the machine with these
 * provided; tests provide stand-ins instead.
 * @module
 */
import { fromPromise, sendParent } from 'xstate';
import { adoptLinkBundle, type Adopted } from '../devices/adopt.js';
import type { OwnDevice } from '../devices/linkBundle.js';
import { selfLinkOf } from '../devices/selfLink.js';
import { deviceSetNotice, forgetNotice, isRemoval, leftNotice, linkedNotice, removalNotice } from '../devices/notices.js';
import type { DeviceLinkRecord } from '../devices/linkRecord.js';
import { adoptRekeys, finishUnlink, rotateKeys } from '../devices/rotate.js';
import { clearAppData, Database, type Contact } from '../db/database.js';
import type { DocId } from '../db/documentStore.js';
import type { Message, SettingsDoc } from '../db/schema.js';
import { appMachine, type AppInput, type MessageInput, type Opened, type OwnDevicesSaved, type SettingsPatch } from '../machines/appMachine.js';
import { contactLinkMachine } from '../machines/contactLinkMachine.js';
import { pairingMachine, type PairingAnnouncement } from '../machines/pairingMachine.js';
import { relayCheck } from './relayCheck.js';
import { chunkStoreOf } from '../files/chunkStore.js';
import { fileUpkeep, reclaimAbandonedCopies } from '../files/upkeep.js';
import type { CancelledFile, FileOut } from '../machines/appTypes.js';
import type { RandomBytes } from '../effects/random.js';
import { AbortedError, FileTooLargeError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { toHex } from '../crypto/bytes.js';

/** The contact to write to: listed, and not one who removed me (whose link is stopped). */
function talking(db: Database, contactId: DocId): Contact {
  const contact = db.contact(contactId);
  if (contact.removed_by === 'me') throw new NotFoundError('contact', contactId);
  if (contact.removed_by === 'peer') throw new InvalidArgumentError('This contact removed you: nothing more reaches them.');
  return contact;
}

/** Whether my removal notice is in the contact's channel as of `heads` (what a deposit or the contact's device holds). */
function removalHeld(db: Database, contactId: DocId, heads: string[]): boolean {
  return db.messagesAt(db.channelOf(db.contact(contactId)), heads).some((m) => m.sender === db.deviceId && isRemoval(m));
}

/** My signed set, into every contact's channel: each contact then takes messages from all my devices. */
async function announceSet(db: Database): Promise<void> {
  const notice = deviceSetNotice(db.deviceSetStatement());
  for (const contact of db.contacts()) if (contact.removed_by === undefined) await db.sendMessage(db.channelOf(contact), { notice });
}

/** The effects `appMachine` names, implemented: the database and its writes, pairings, contact links, the relay check, files. */
export const appActors = {
  contactLink: contactLinkMachine,
  // VERIFY as a child machine that announces its progress and code to the app.
  pairing: pairingMachine.provide({ actions: { announce: sendParent((_, params: PairingAnnouncement) => params) } }),
  relayCheck,
  openDatabase: fromPromise<Opened, Pick<AppInput, 'storage' | 'randomBytes' | 'relay' | 'clock'>>(async ({ input }) => {
    const db = await Database.open({ storage: input.storage, randomBytes: input.randomBytes, clock: input.clock });
    await chunkStoreOf(input.storage).sweepImports(); // a send interrupted while storing its file
    await fileUpkeep(db); // copies no contact names reclaimed; refusal notices a crash kept from being written
    if (input.relay !== undefined && db.settings().relay_server !== input.relay) await db.updateSettings({ relay_server: input.relay });
    const self = selfLinkOf(db);
    return {
      db,
      publicKey: db.publicKey,
      contacts: db.contacts(),
      leaving: db.leavingContacts(),
      settings: db.settings(),
      firstStart: db.firstStart,
      ...(self ? { self } : {}),
    };
  }),
  saveContact: fromPromise<Contact, { db: Database; moniker: string; contactKey: Uint8Array; publicKey?: string }>(async ({ input }) => {
    const { db } = input;
    const contact = await db.addContact({ moniker: input.moniker, contactKey: input.contactKey, publicKey: input.publicKey });
    // The new contact learns my other devices at once: it takes their messages too.
    if (db.ownDevices().length > 0) await db.sendMessage(db.channelOf(contact), { notice: deviceSetNotice(db.deviceSetStatement()) });
    return contact;
  }),
  renameContact: fromPromise<Contact, { db: Database; contactId: DocId; moniker: string }>(({ input }) =>
    input.db.renameContact(input.contactId, input.moniker),
  ),
  // A removal tells the contact (a notice in our channel, synced or deposited) and my other devices (our
  // own channel); the card stays, unlisted, until the notice is on the relay (`forgetContact`).
  removeContact: fromPromise<{ leaving?: Contact }, { db: Database; contactId: DocId }>(async ({ input }) => {
    const { db, contactId } = input;
    const contact = db.contact(contactId);
    if (contact.removed_by === 'me') throw new NotFoundError('contact', contactId);
    const channel = db.channelOf(contact);
    const self = db.selfChannel();
    // The contact removed me first: its link is stopped already, only my devices are left to tell.
    if (contact.removed_by === 'peer') {
      if (self !== undefined) await db.sendMessage(self, { text: forgetNotice(channel) });
      await db.removeContact(contactId);
      await reclaimAbandonedCopies(db);
      return {};
    }
    await db.sendMessage(channel, { notice: removalNotice() });
    if (self !== undefined) await db.sendMessage(self, { text: forgetNotice(channel) });
    const leaving = await db.markRemoved(contactId, 'me');
    await reclaimAbandonedCopies(db); // its files will not come now: their partial copies go
    return { leaving };
  }),
  // `heads`: what the relay's depot or the contact's device now holds; forget it once my removal notice is in there.
  forgetContact: fromPromise<boolean, { db: Database; contactId: DocId; heads?: string[] }>(async ({ input }) => {
    const { db, contactId, heads } = input;
    if (!db.docs.has(contactId)) return true;
    if (heads !== undefined && !removalHeld(db, contactId, heads)) return false;
    await db.removeContact(contactId);
    await reclaimAbandonedCopies(db);
    return true;
  }),
  holdsRemoval: fromPromise<boolean, { db: Database; contactId: DocId; heads: string[] }>(async ({ input }) =>
    input.db.docs.has(input.contactId) ? removalHeld(input.db, input.contactId, input.heads) : true,
  ),
  // My other devices are told too (our own channel): the contact's notice may reach only this one.
  markRemovedByPeer: fromPromise<Contact, { db: Database; contactId: DocId }>(async ({ input }) => {
    const { db, contactId } = input;
    const self = db.selfChannel();
    if (self !== undefined) await db.sendMessage(self, { text: leftNotice(db.channelOf(db.contact(contactId))) });
    const contact = await db.markRemoved(contactId, 'peer');
    await reclaimAbandonedCopies(db); // nothing more comes from them
    return contact;
  }),
  sendMessage: fromPromise<Message, { db: Database; contactId: DocId; message: MessageInput }>(async ({ input }) =>
    input.db.sendMessage(input.db.channelOf(talking(input.db, input.contactId)), input.message),
  ),
  saveSettings: fromPromise<SettingsDoc, { db: Database; patch: SettingsPatch }>(({ input }) => input.db.updateSettings(input.patch)),
  // The new device is announced to my other devices (our own channel) and to every contact (my signed set).
  saveOwnDevice: fromPromise<OwnDevicesSaved, { db: Database; device: OwnDevice; record?: DeviceLinkRecord }>(async ({ input }) => {
    const { db } = input;
    const devices = await db.addOwnDevices([input.device]);
    if (input.record) await db.sendMessage(db.selfChannel()!, { text: linkedNotice(input.record) });
    await announceSet(db);
    return { devices, self: selfLinkOf(db) };
  }),
  // Devices another device of mine linked (its notices in our own channel).
  addOwnDevices: fromPromise<OwnDevicesSaved, { db: Database; devices: OwnDevice[] }>(async ({ input }) => ({
    devices: await input.db.addOwnDevices(input.devices),
    self: selfLinkOf(input.db),
  })),
  // The notice goes first (in our own channel, synced or deposited for the device), then we forget it.
  // Then the keys it held are rotated (devices/rotate.ts): what is written from now on is out of its reach.
  unlinkDevice: fromPromise<OwnDevicesSaved, { db: Database; deviceId: string; randomBytes: RandomBytes }>(async ({ input }) => {
    const { db, deviceId } = input;
    if (!db.ownDevices().some((d) => d.device_id === deviceId)) throw new NotFoundError('linked device', deviceId);
    // Marked first, with the device: a crash anywhere after finishes the unlink and the rotation on the next start.
    const now = db.now();
    await db.setRotationPending(now, deviceId);
    await finishUnlink(db, deviceId);
    const { contacts: moved } = await rotateKeys(db, input.randomBytes, now);
    return { devices: db.ownDevices(), self: selfLinkOf(db), contacts: db.contacts(), moved };
  }),
  // Keys a device of mine or a contact's rotated, sealed to this one.
  adoptRekeys: fromPromise<OwnDevicesSaved, { db: Database; randomBytes: RandomBytes }>(async ({ input }) => {
    const { db } = input;
    const { contacts: moved } = await adoptRekeys(db, input.randomBytes);
    return { devices: db.ownDevices(), self: selfLinkOf(db), contacts: db.contacts(), moved };
  }),
  adoptLink: fromPromise<Adopted, { db: Database; link: unknown; approver?: string }>(({ input }) => adoptLinkBundle(input.db, input.link, input.approver)),
  touchContact: fromPromise<Contact, { db: Database; contactId: DocId }>(({ input }) => input.db.touchContact(input.contactId)),
  // Files: the bytes go into the chunk store first (hashed as they pass), then the message names them.
  sendFile: fromPromise<Message, FileOut & { db: Database; maxBytes: number; randomBytes: RandomBytes }>(async ({ input }) => {
    const { db, file, maxBytes } = input;
    if (file.size !== undefined && file.size > maxBytes) throw new FileTooLargeError(file.size, maxBytes, { filename: file.filename });
    if (input.signal?.aborted) throw new AbortedError('The file was not sent: cancelled before it was stored.', input.signal.reason);
    const channel = db.channelOf(talking(db, input.contactId));
    const { hash, size } = await chunkStoreOf(db.storage).import(file.data, { maxBytes, blobId: toHex(input.randomBytes(16)), signal: input.signal });
    return db.sendMessage(channel, { text: input.text, file: { filename: file.filename, mimetype: file.mimetype, size, hash } });
  }),
  cancelFile: fromPromise<CancelledFile, { db: Database; hash: string }>(async ({ input }) => {
    const store = chunkStoreOf(input.db.storage);
    const direction = (await store.sent(input.hash)) ? 'out' : 'in';
    // A file being received has no record of its own yet: its size is in the contacts' copies.
    const total = (await store.meta(input.hash))?.size ?? (await store.copies(input.hash))[0]?.size ?? 0;
    await store.settle(input.hash, 'cancelled', new AbortedError('The file was cancelled on this device.'));
    return { direction, total };
  }),
  closeStorage: fromPromise<void, Pick<AppInput, 'storage' | 'journal'> & { clear?: boolean }>(async ({ input }) => {
    await input.journal?.close();
    try {
      if (input.clear) await clearAppData(input.storage);
    } finally {
      await input.storage.close?.();
    }
  }),
};

/** The app machine with its effects: what `createBackchannel` runs. */
export const backchannelApp = appMachine.provide({ actors: appActors });
