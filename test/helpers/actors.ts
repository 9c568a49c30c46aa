/** Looking up live actors by the paths the journal records (`app`, `app/link-…/discover`). */
import type { AnyActorRef } from 'xstate';
import { replay, stateOf } from '../../src/journal/replay.js';
import type { Journal } from '../../src/journal/journal.js';

export function liveAt(root: AnyActorRef, path: string): AnyActorRef | undefined {
  let ref: AnyActorRef | undefined = root;
  for (const id of path.split('/').slice(1)) ref = (ref?.getSnapshot() as { children: Record<string, AnyActorRef> } | undefined)?.children[id];
  return ref;
}

/**
 * Replay the journal and compare every running actor under `root` with its live snapshot. Returns
 * the differences (empty when replay ≡ live) and how many actors were compared.
 */
export async function replayDiff(journal: Journal, root: AnyActorRef): Promise<{ compared: number; diffs: string[] }> {
  const rootId = (root as unknown as { logic: { id: string } }).logic.id;
  const running = (await replay(journal)).filter((r) => !r.ended && r.machine && (r.path === rootId || r.path.startsWith(`${rootId}/`)));
  const diffs: string[] = [];
  for (const r of running) {
    const live = liveAt(root, r.path);
    if (!live) diffs.push(`${r.path}: in the journal, not running`);
    else if (r.failure) diffs.push(`${r.path}: ${r.failure}`);
    else if (stateOf(r.snapshot!) !== stateOf(live.getSnapshot()))
      diffs.push(`${r.path}:\n  replay ${stateOf(r.snapshot!)}\n  live   ${stateOf(live.getSnapshot())}`);
  }
  return { compared: running.length, diffs };
}
