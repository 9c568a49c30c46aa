/** Property-test run counts: modest by default, raised with FC_RUNS (e.g. FC_RUNS=10000 npm test). */
export const FC_RUNS = Number(process.env.FC_RUNS ?? 200);
/** For the heavy network simulations: a tenth of FC_RUNS, at least 20. */
export const FC_NET_RUNS = Math.max(20, Math.floor(FC_RUNS / 10));
/** The sync convergence property: at least 500 runs, FC_RUNS=10000 raises it. */
export const FC_SYNC_RUNS = Math.max(500, Number(process.env.FC_RUNS ?? 0));
