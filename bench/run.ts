/**
 * Benchmarks, run on demand (`npm run bench`); nothing here is asserted. Prints issue #11's figures, each
 * beside its reference measured in the same run, then the table of them all (docs/benchmarks.md).
 *
 * BENCH_ONLY=relay|spake2|sync|journal|scaleout|mux runs one part; BENCH_ONLY=profile prints the relay's CPU
 * profile under load; BENCH_ONLY=discover the DISCOVER benchmark, BENCH_ONLY=files a file over WebRTC next to raw frames
 * (both need root for `ip netns`).
 * BENCH_SCALE=N lengthens every measured window and round N times; BENCH_IDLE_SOCKETS (15000),
 * BENCH_WINDOW_MS, BENCH_MESSAGES, BENCH_CONTACTS, BENCH_JOURNAL_PAIRINGS, BENCH_SPAKE2, BENCH_MUX_CONTACTS set sizes.
 */
import { benchDiscover } from './discover.js';
import { benchMux } from './mux.js';
import { type Figure, formatFigures } from './figures.js';
import { benchFiles } from './files.js';
import { benchJournal } from './journal.js';
import { benchProfile } from './profile.js';
import { benchRelay } from './relay.js';
import { benchScaleout } from './scaleout.js';
import { benchSpake2 } from './spake2.js';
import { benchSync } from './sync.js';

const only = process.env.BENCH_ONLY;
const figures: Figure[] = [];
const started = Date.now();
/** A part that fails is reported and the others still run. */
async function part<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    console.error(`${name} benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    figures.push({ what: `${name}: failed (see above)`, ours: '—', reference: '—', ratio: NaN, goal: '—', met: false });
    return undefined;
  }
}
const runs = (part: string) => (only ? only === part : part !== 'profile' && part !== 'discover' && part !== 'files');

if (runs('relay')) figures.push(...((await part('relay', benchRelay)) ?? []));
if (runs('spake2')) {
  const r = await part('spake2', () => benchSpake2());
  if (r) {
    console.error(r.text);
    figures.push(r.figure);
  }
}
for (const [name, bench] of [
  ['sync', benchSync],
  ['journal', benchJournal],
  ['scaleout', benchScaleout],
  ['mux', benchMux],
] as const) {
  if (!runs(name)) continue;
  const r = await part(name, () => bench());
  if (!r) continue;
  console.error(r.text);
  figures.push(...r.figures);
}
if (runs('profile')) console.log(await benchProfile());
if (runs('discover')) console.log(benchDiscover());
if (runs('files')) console.log(benchFiles());

if (figures.length > 0) {
  console.log(`\nIssue #11 figures (${new Date().toISOString().slice(0, 10)}, this machine, ${Math.round((Date.now() - started) / 1000)} s)`);
  console.log(formatFigures(figures));
}
