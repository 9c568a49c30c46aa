/**
 * One device for bench/mux.ts, in its own process (so its RSS is its own): `node muxWorker.js <relay>
 * <contacts> <shared|per-contact>`. Its storage gets that many contacts (as if paired; not timed), then
 * the app opens and the clock runs until every contact's topic is announced on the relay and its depot
 * answered the first fetch: the device can reach every contact. Prints one JSON line (with the CPU
 * time the process spent opening, all its threads: steadier than wall-clock time on a loaded machine),
 * then holds its sockets until stdin closes.
 */
import { createActor, waitFor } from 'xstate';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { backchannelApp } from '../src/app/actors.js';
import { Database } from '../src/db/database.js';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { BACKCHANNEL_APPID } from '../src/pair.js';

const [relay, count, mode] = process.argv.slice(2) as [string, string, 'shared' | 'per-contact'];
const contacts = Number(count);

const storage = new MemoryStorage();
const db = await Database.open({ storage });
for (let i = 0; i < contacts; i++) await db.addContact({ moniker: `contact ${i}`, contactKey: cryptoRandomBytes(32) });
db.docs.close();

const announced = new Set<string>();
const fetched = new Set<string>();
let open = 0;
let done: () => void = () => {};
const reachable = new Promise<void>((resolve) => (done = resolve));
const real = nodeSocketConnector();
/** Counts DISCOVER sockets open and notes every topic announced and every depot answering a fetch. */
const connector: SocketConnector = (url, handlers) => {
  const discover = new URL(url).pathname === DISCOVER_PATH;
  let opened = false;
  const shut = () => {
    if (opened) open--;
    opened = false;
  };
  const socket = real(url, {
    onOpen: () => {
      if (discover) ((opened = true), open++);
      handlers.onOpen();
    },
    onMessage: (text) => {
      if (discover && (text.includes('"announced"') || text.includes('"deposits"'))) {
        const m = JSON.parse(text) as { type: string; topic: string };
        if (m.type === 'announced') announced.add(m.topic);
        if (m.type === 'deposits') fetched.add(m.topic);
        if (announced.size === contacts && fetched.size === contacts) done();
      }
      handlers.onMessage(text);
    },
    onClose: (info) => (shut(), handlers.onClose(info)),
  });
  return { send: (text) => socket.send(text), close: () => (shut(), socket.close()) };
};

const hr = () => Number(process.hrtime.bigint() / 1000n); // µs, the clock of --cpu-prof's samples
const marks = { started: hr(), ready: 0, open: 0 };
const started = performance.now();
const cpuAtStart = process.cpuUsage();
const actor = createActor(backchannelApp, {
  input: { storage, connector, randomBytes: cryptoRandomBytes, appid: BACKCHANNEL_APPID, relay, relayConnections: mode },
});
actor.start();
await waitFor(actor, (s) => !s.matches('starting'), { timeout: 600_000 });
const readyMs = performance.now() - started;
marks.ready = hr();
await reachable;
const openMs = performance.now() - started;
const cpu = process.cpuUsage(cpuAtStart);
marks.open = hr();
globalThis.gc?.();
console.log(
  JSON.stringify({ contacts, mode, readyMs, openMs, cpuMs: (cpu.user + cpu.system) / 1000, sockets: open, rssBytes: process.memoryUsage().rss, marks }),
);
process.stdin.resume();
process.stdin.on('end', () => {
  actor.send({ type: 'CLOSE' });
  void waitFor(actor, (s) => s.status === 'done', { timeout: 30_000 }).finally(() => process.exit(0));
});
