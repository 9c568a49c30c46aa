/**
 * `@backchannel/sdk/cli`: the `backchannel` command, as the `@backchannel/cli` package's bin (and this
 * repository's bin/backchannel.js) runs it. The command needs `ws` (the relay's WebSocket server, and
 * the client on a Node without a global WebSocket), an optional peer of the SDK that
 * `@backchannel/cli` brings: without it, this says what to install instead of a stack trace.
 * @module
 */

/** What a user without `ws` reads. */
const NEEDS_WS = 'error: the backchannel command needs the ws package: npm i -g @backchannel/cli (or npm i ws beside @backchannel/sdk)\n';

/** Is `error` the failure to load `ws` (not installed), by Node's resolver or by the socket adapter? */
function missingWs(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; data?: { missing?: unknown } } | undefined;
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && typeof e.message === 'string') return /Cannot find package 'ws'/.test(e.message);
  return e?.data?.missing === 'ws';
}

/**
 * Run the `backchannel` command on `argv` (default: this process's arguments after the script) and
 * exit the process with its code: 0 success, 1 the operation failed, 2 bad usage.
 */
export async function runCli(argv: string[] = process.argv.slice(2)): Promise<void> {
  let cli: typeof import('./main.js');
  try {
    cli = await import('./main.js');
  } catch (error) {
    if (!missingWs(error)) throw error;
    process.stderr.write(NEEDS_WS);
    process.exit(1);
  }
  cli.runCli(argv);
}
