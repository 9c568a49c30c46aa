/**
 * Benchmarks, run on demand (`npm run bench`), printed side by side; nothing here is asserted.
 * BENCH_ONLY=spake2|pairings|scaleout|journal|sync|discover|files picks one (discover needs root for `ip netns`); BENCH_LEVELS=1,10,100,1000 sets the concurrency levels.
 */
import { benchDiscover } from './discover.js';
import { benchFiles } from './files.js';
import { benchPairings } from './pairings.js';
import { benchScaleout } from './scaleout.js';
import { benchJournal } from './journal.js';
import { benchSpake2 } from './spake2.js';
import { benchSync } from './sync.js';

const only = process.env.BENCH_ONLY;
if (!only || only === 'spake2') console.log(benchSpake2() + '\n');
if (!only || only === 'pairings') console.log((await benchPairings()) + '\n');
if (!only || only === 'scaleout') console.log((await benchScaleout()) + '\n');
if (!only || only === 'journal') console.log((await benchJournal()) + '\n');
if (!only || only === 'sync') console.log((await benchSync()) + '\n');
if (!only || only === 'discover') console.log(benchDiscover() + '\n');
if (!only || only === 'files') console.log(benchFiles() + '\n');
