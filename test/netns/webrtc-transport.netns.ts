/**
 * The Transport suite against WebRtcTransport over real WebRTC (@roamhq/wrtc): two peer connections in
 * this process, offer, answer and candidates handed over in memory, data crossing the namespace's
 * veth pair. Only runs inside the namespace transport-webrtc.test.ts creates.
 */
import wrtc from '@roamhq/wrtc';
import { WebRtcTransport } from '../../src/adapters/webrtcTransport.js';
import { runTransportTests, type TransportPair } from '../helpers/transportConformance.js';

if (!process.env.BACKCHANNEL_NETNS) throw new Error('run through test/transport-webrtc.test.ts: WebRTC tests must stay inside a network namespace');

const Peer = wrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection;

// A candidate gathered late can reach a peer a close case already shut: only then is refusing it expected.
function handOver(candidate: RTCIceCandidate, to: RTCPeerConnection): void {
  to.addIceCandidate(candidate).catch((error: unknown) => {
    if (to.signalingState !== 'closed') throw error;
  });
}

async function connectedPair(): Promise<TransportPair> {
  const [pa, pb] = [new Peer({ iceServers: [] }), new Peer({ iceServers: [] })];
  pa.onicecandidate = (e) => e.candidate && handOver(e.candidate, pb);
  pb.onicecandidate = (e) => e.candidate && handOver(e.candidate, pa);
  const opened = (dc: RTCDataChannel) => new Promise<RTCDataChannel>((resolve) => (dc.readyState === 'open' ? resolve(dc) : (dc.onopen = () => resolve(dc))));
  const dcA = pa.createDataChannel('backchannel');
  const incoming = new Promise<RTCDataChannel>((resolve) => (pb.ondatachannel = (e) => resolve(e.channel)));
  await pa.setLocalDescription(await pa.createOffer());
  await pb.setRemoteDescription(pa.localDescription!);
  await pb.setLocalDescription(await pb.createAnswer());
  await pa.setRemoteDescription(pb.localDescription!);
  const [a, b] = await Promise.all([opened(dcA), incoming.then(opened)]);
  return {
    a: new WebRtcTransport(a, { onClose: () => pa.close() }),
    b: new WebRtcTransport(b, { onClose: () => pb.close() }),
    queuedAtA: () => a.bufferedAmount,
    dispose: () => {
      pa.close();
      pb.close();
    },
  };
}

runTransportTests('WebRTC data channel (@roamhq/wrtc)', connectedPair, {
  // The data channel's queue: the channel's high-water mark (1 MiB) plus the frame that crossed it.
  // (Bytes sent and not yet received are no measure here: both ends share one event loop, so the
  // receiver's unprocessed events count too, 11 MiB on a loaded machine.)
  maxBytesInFlight: 1024 * 1024 + 64 * 1024,
  noWire: 'DTLS protects the frames; there is no seal of ours to attack',
});
