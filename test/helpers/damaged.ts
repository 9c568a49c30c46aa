/**
 * The damaged-input property two sync decoders share: take an honest sample, overwrite a few bytes,
 * maybe cut it in half, and hand it to `check` with a random budget. The check may accept it or refuse
 * it with ProtocolError or TooLargeError; anything else thrown fails the property. Counts each outcome.
 */
import fc from 'fast-check';
import { ProtocolError, TooLargeError } from '../../src/errors.js';
import { Branches } from './branches.js';
import { FC_RUNS } from './runs.js';

export interface DamagedOptions {
  /** Printed with the counts. */
  name: string;
  /** Honest inputs the property damages. */
  samples: readonly Uint8Array[];
  /** The largest budget drawn (0..maxBudget). */
  maxBudget: number;
  /** At most this many bytes overwritten. */
  maxEdits: number;
  /** Decode or check the damaged bytes; throw to refuse. */
  check: (bytes: Uint8Array, budget: number) => void;
}

export function assertDamagedRefusedOrAccepted({ name, samples, maxBudget, maxEdits, check }: DamagedOptions): void {
  const branches = new Branches(name, ['accepted', 'protocol', 'too large']);
  fc.assert(
    fc.property(
      fc.nat({ max: samples.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: maxEdits }),
      fc.nat({ max: maxBudget }),
      fc.boolean(),
      (which, edits, budget, cut) => {
        const bytes = Uint8Array.from(samples[which]!);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        try {
          check(cut ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes, budget);
          branches.hit('accepted');
        } catch (err) {
          if (err instanceof TooLargeError) branches.hit('too large');
          else if (err instanceof ProtocolError) branches.hit('protocol');
          else throw err;
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
  branches.check();
}
