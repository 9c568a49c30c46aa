/**
 * Runs inside a network namespace (bench/discover.ts makes it): time from announce to an open channel,
 * direct and relayed, and throughput of 1 KiB and 64 KiB messages over our channels next to a raw
 * RTCDataChannel. Prints JSON.
 */
import wrtc from '@roamhq/wrtc';
import { startRelay } from '../server/relay.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { connectToContact } from '../src/discover/connect.js';

const relay = await startRelay({ limits: { maxFrameBytes: 4 * 1024 * 1024 } });
const RTC = wrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection;

/** Two peer connections wired in-process, and the raw data channel between them. */
async function rawPair() {
  const p1 = new RTC({});
  const p2 = new RTC({});
  p1.onicecandidate = (e) => e.candidate && void p2.addIceCandidate(e.candidate);
  p2.onicecandidate = (e) => e.candidate && void p1.addIceCandidate(e.candidate);
  const dc1 = p1.createDataChannel('raw');
  dc1.binaryType = 'arraybuffer';
  const dc2 = new Promise<RTCDataChannel>((r) => (p2.ondatachannel = (e) => r(e.channel)));
  await p1.setLocalDescription(await p1.createOffer());
  await p2.setRemoteDescription(p1.localDescription!);
  await p2.setLocalDescription(await p2.createAnswer());
  await p1.setRemoteDescription(p2.localDescription!);
  await new Promise((r) => (dc1.readyState === 'open' ? r(null) : (dc1.onopen = r)));
  const other = await dc2;
  other.binaryType = 'arraybuffer';
  dc1.bufferedAmountLowThreshold = 512 * 1024;
  return {
    async send(f: Uint8Array) {
      dc1.send(f as Uint8Array<ArrayBuffer>);
      // Same flow control as WebRtcTransport (wrtc does not dispatch bufferedamountlow to listeners).
      while (dc1.bufferedAmount > 1024 * 1024) await new Promise((r) => setTimeout(r, 25));
    },
    onMessage: (h: (n: number) => void) => (other.onmessage = (e) => h((e.data as ArrayBuffer).byteLength)),
    close: () => (p1.close(), p2.close()),
  };
}

async function connect(direct: boolean) {
  const key = cryptoRandomBytes(32);
  const t0 = performance.now();
  const mk = () =>
    connectToContact({
      contactKey: key,
      url: relay.discoveryUrl,
      connector: nodeSocketConnector(),
      randomBytes: cryptoRandomBytes,
      rtc: direct ? { RTCPeerConnection: RTC, config: { iceServers: [] } } : undefined,
    });
  const [a, b] = await Promise.all([mk(), mk()]);
  return { ms: performance.now() - t0, ca: a.channel, cb: b.channel, stop: () => (a.stop(), b.stop()) };
}

async function throughput(send: (f: Uint8Array) => Promise<void> | void, onMessage: (h: (n: number) => void) => void, size: number, totalBytes: number) {
  const frame = new Uint8Array(size).fill(7);
  const count = Math.ceil(totalBytes / size);
  let received = 0;
  const done = new Promise<void>((resolve) => onMessage((n) => (received += n) >= count * size && resolve()));
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await send(frame);
  await done;
  return (count * size) / 1e6 / ((performance.now() - t0) / 1000);
}

const out: Record<string, number> = {};
const total = Number(process.env.BENCH_BYTES ?? 16 * 1024 * 1024);
const direct = await connect(true);
out.directConnectMs = direct.ms;
for (const size of [1024, 65536]) {
  out[`direct_${size}`] = await throughput(
    (f) => direct.ca.send(f),
    (h) => direct.cb.on('message', (f) => h(f.length)),
    size,
    total,
  );
}
direct.stop();
// A raw data channel, unsealed, without our wrapper: the floor to compare against.
const raw = await rawPair();
for (const size of [1024, 65536]) out[`raw_${size}`] = await throughput((f) => raw.send(f), raw.onMessage, size, total);
raw.close();
const relayed = await connect(false);
out.relayedConnectMs = relayed.ms;
for (const size of [1024, 65536]) {
  out[`relayed_${size}`] = await throughput(
    (f) => relayed.ca.send(f),
    (h) => relayed.cb.on('message', (f) => h(f.length)),
    size,
    total / 4,
  );
}
relayed.stop();
await relay.close();
console.log(JSON.stringify(out));
process.exit(0);
