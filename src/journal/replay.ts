/**
 * Replay: rebuild every journaled actor's snapshot from its start (or checkpoint) and the events it
 * processed, with the machine's own `transition` in an inert scope (as XState's pure `transition()`
 * does, plus a stand-in parent so `sendParent` resolves) — no actions run, no children start, no I/O
 * happens. Children recorded at the start are stand-ins, so `sendTo(child)` resolves too. For
 * machines whose transitions are pure (their effects live in actors and actions), the result equals
 * the live snapshot; `test/journal.test.ts` checks exactly that with fast-check.
 * @module
 */
import { createActor, createEmptyActor, fromCallback, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { depotMachine } from '../depot/depotMachine.js';
import { appMachine } from '../machines/appMachine.js';
import { contactLinkMachine } from '../machines/contactLinkMachine.js';
import { discoverMachine } from '../machines/discoverMachine.js';
import { pairingMachine } from '../machines/pairingMachine.js';
import { syncMachine } from '../machines/syncMachine.js';
import { wormholeMachine } from '../machines/wormholeMachine.js';
import { canonical } from './encode.js';
import type { Journal, OpenedRecord } from './journal.js';

/** Machine definitions by id: what replay uses to interpret records. */
export type MachineRegistry = Record<string, AnyStateMachine>;

/** The machines `replay` knows, by id. */
export const BACKCHANNEL_MACHINES: MachineRegistry = {
  app: appMachine,
  contactLink: contactLinkMachine,
  depot: depotMachine,
  discover: discoverMachine,
  pairing: pairingMachine,
  sync: syncMachine,
  wormhole: wormholeMachine,
};

/**
 * The scope a replayed actor transitions in: actions are collected and dropped, and `self` has a
 * parent that ignores everything.
 */
function inertScope(logic: AnyStateMachine): AnyActorScope {
  const self = createActor(logic, { parent: createEmptyActor() });
  return {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    defer: () => {},
    logger: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: () => {},
  } as unknown as AnyActorScope;
}

/** A never-started actor under a child's id: enough for `sendTo` and `stopChild` to resolve. */
const standIn = (id: string) =>
  createActor(
    fromCallback(() => {}),
    { id },
  );

/** An actor as `replay` rebuilt it from the journal: its path, its last snapshot, and how it ended. */
export interface ReplayedActor {
  /** The journal's number for this actor (one per actor started). */
  actor: number;
  /** Where it sat in its system, e.g. `app/link-3fa2…/discover`. */
  path: string;
  /** A machine's id; absent for an effect actor. */
  machine?: string;
  /** An effect actor's `src` (a socket, a session): its events are recorded, it has no state to rebuild. */
  effect?: string;
  /** Events the actor processed since its start or checkpoint. */
  events: number;
  snapshot?: AnyMachineSnapshot;
  /** `stopped`, `done` or `error` once the live actor ended. */
  ended?: string;
  /** Why replay could not follow this actor (unknown machine, a transition that threw). */
  failure?: string;
}

/** Rebuild every actor in the journal (or in these records). */
export async function replay(source: Journal | OpenedRecord[], machines: MachineRegistry = BACKCHANNEL_MACHINES): Promise<ReplayedActor[]> {
  const records = Array.isArray(source) ? source : await source.records();
  const actors = new Map<number, ReplayedActor>();
  const scopes = new Map<number, AnyActorScope>();
  for (const r of [...records].sort((x, y) => x.seq - y.seq)) {
    if (r.k === 'spawn') {
      actors.set(r.a, { actor: r.a, path: r.path, effect: r.effect, events: 0 });
      continue;
    }
    if (r.k === 'start' || r.k === 'checkpoint') {
      const logic = machines[r.machine];
      const entry: ReplayedActor = { actor: r.a, path: r.path, machine: r.machine, events: 0 };
      actors.set(r.a, entry);
      if (!logic) {
        entry.failure = `unknown machine "${r.machine}"`;
        continue;
      }
      const snapshot = logic.resolveState({ value: r.state.value, context: r.state.context } as Parameters<typeof logic.resolveState>[0]) as AnyMachineSnapshot;
      (snapshot as { children: Record<string, unknown> }).children = Object.fromEntries(r.state.children.map((id) => [id, standIn(id)]));
      entry.snapshot = snapshot;
      scopes.set(r.a, inertScope(logic));
      continue;
    }
    const entry = actors.get(r.a);
    if (!entry) continue; // its start went with a compaction, and it ended before the checkpoint
    if (r.k === 'end') {
      entry.ended = r.status;
      continue;
    }
    if (r.k !== 'event') continue;
    entry.events++;
    if (!entry.snapshot || entry.failure) continue;
    try {
      entry.snapshot = machines[entry.machine!]!.transition(entry.snapshot, r.event, scopes.get(r.a)!) as AnyMachineSnapshot;
    } catch (err) {
      entry.failure = `event ${r.event.type} (seq ${r.seq}): ${(err as Error).message}`;
    }
  }
  return [...actors.values()];
}

/** The part of a snapshot replay must reproduce: state value, context, status and children, canonically. */
export function stateOf(snapshot: { value: unknown; context: unknown; status: string; children?: Record<string, unknown> }): string {
  return canonical({ value: snapshot.value, context: snapshot.context, status: snapshot.status, children: Object.keys(snapshot.children ?? {}).sort() });
}
