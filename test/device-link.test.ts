/**
 * Device-link records (the seam of linked devices): a device joins one person's set only by a record
 * an existing device signed with its System keypair; forged, altered or unanchored records are refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/crypto/bytes.js';
import { sign, signingKeypair } from '../src/crypto/signing.js';
import { deviceSet, signDeviceLink, verifyDeviceLink, type DeviceLinkRecord } from '../src/devices/linkRecord.js';
import { FC_RUNS } from './helpers/runs.js';

const device = (n: number) => {
  const pair = signingKeypair(new Uint8Array(32).fill(n + 1));
  return { id: n.toString(16).padStart(32, '0'), key: toHex(pair.publicKey), sign: (m: Uint8Array) => sign(pair.secretKey, m) };
};
type Device = ReturnType<typeof device>;
const link = (approver: Device, joining: Device, at = 1_000): DeviceLinkRecord =>
  signDeviceLink({ device_id: joining.id, public_key: joining.key, linked_at: at, by: approver.key }, approver.sign);

describe('device-link records', () => {
  it('a record signed by a device of the set adds the new device; a chain in any order is accepted', () => {
    const [phone, laptop, tablet] = [device(0), device(1), device(2)];
    const records = [link(laptop, tablet), link(phone, laptop)]; // the tablet's approver joined in the other record
    expect(records.every(verifyDeviceLink)).toBe(true);
    const { keys, refused } = deviceSet(phone.key, records);
    expect([...keys].sort()).toEqual([phone.key, laptop.key, tablet.key].sort());
    expect(refused).toEqual([]);
  });

  it('refuses a record signed outside the set, one altered after signing, and one signed by someone else in the set’s name', () => {
    const [phone, laptop, stranger, victim] = [device(0), device(1), device(7), device(3)];
    const unanchored = link(stranger, victim);
    const altered = { ...link(phone, laptop), public_key: stranger.key };
    const impersonating = { ...link(stranger, victim), by: phone.key };
    const { keys, refused } = deviceSet(phone.key, [unanchored, altered, impersonating]);
    expect([...keys]).toEqual([phone.key]);
    expect(refused).toHaveLength(3);
    expect(verifyDeviceLink(altered)).toBe(false);
    expect(verifyDeviceLink(impersonating)).toBe(false);
    expect(verifyDeviceLink({ ...link(phone, laptop), linked_at: 1_001 })).toBe(false);
    expect(verifyDeviceLink(null as unknown as DeviceLinkRecord)).toBe(false);
  });

  it('any single changed character of a signed record breaks it (property)', () => {
    const [phone, laptop] = [device(0), device(1)];
    const good = link(phone, laptop, 1_700_000_000_000);
    let changed = 0;
    fc.assert(
      fc.property(fc.constantFrom<keyof DeviceLinkRecord>('device_id', 'public_key', 'by', 'signature'), fc.nat(), fc.nat({ max: 15 }), (field, at, digit) => {
        const text = good[field] as string;
        const i = at % text.length;
        const replacement = digit.toString(16);
        if (text[i] === replacement) return;
        changed++;
        const bad = { ...good, [field]: text.slice(0, i) + replacement + text.slice(i + 1) };
        expect(verifyDeviceLink(bad)).toBe(false);
      }),
      { numRuns: Math.max(100, FC_RUNS) },
    );
    console.log(`device-link property: ${changed} altered records refused`);
    expect(changed).toBeGreaterThan(0);
  });
});
