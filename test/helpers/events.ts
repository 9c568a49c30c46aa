/** A device's events of one type, as a test reads them: all seen so far, and a wait for the first that matches. */
import type { Backchannel, BackchannelEvent } from '../../src/app/backchannel.js';

export interface EventLog<E> {
  /** Every event of the type since the log began (a test may empty it to wait for later ones). */
  seen: E[];
  /** The first seen event that `match` takes, or the next to come; rejects after `ms`, naming what came. */
  next(match: (e: E) => boolean, ms?: number): Promise<E>;
}

export function eventsOf<T extends BackchannelEvent['type']>(bc: Backchannel, type: T): EventLog<Extract<BackchannelEvent, { type: T }>> {
  type E = Extract<BackchannelEvent, { type: T }>;
  const seen: E[] = [];
  const waiters: { match: (e: E) => boolean; resolve: (e: E) => void }[] = [];
  bc.subscribe((e) => {
    if (e.type !== type) return;
    seen.push(e as E);
    for (const w of [...waiters]) if (w.match(e as E)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e as E));
  });
  return {
    seen,
    next: (match, ms = 60_000) => {
      const already = seen.find(match);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no such ${type} event in ${ms} ms; saw ${JSON.stringify(seen)}`)), ms);
        waiters.push({ match, resolve: (e) => (clearTimeout(t), resolve(e)) });
      });
    },
  };
}
