/**
 * Benchmarks, run on demand (`npm run bench`); nothing here is asserted. Prints issue #11's figures, each
 * beside its reference measured in the same run, then the table.
 */
import { benchRelay } from './relay.js';
import { benchProfile } from './profile.js';
import { formatFigures } from './figures.js';

if (process.env.BENCH_ONLY === 'profile') console.log(await benchProfile());
else {
  const figures = await benchRelay();
  console.log(formatFigures(figures));
}
