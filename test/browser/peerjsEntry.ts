/** Bundled for Chromium: one device connecting to its contact's other device through a PeerServer. */
import { Peer } from 'peerjs';
import { connectWithPeerJs, type PeerJsConstructor } from '../../src/adapters/peerjsTransport.js';
import { fromHex } from '../../src/crypto/bytes.js';
import { cryptoRandomBytes } from '../../src/effects/random.js';

declare global {
  interface Window {
    runPeerJs(port: number, keyHex: string, role: 'echo' | 'ask'): Promise<string>;
  }
}

window.runPeerJs = async (port, keyHex, role) => {
  const channel = await connectWithPeerJs({
    Peer: Peer as unknown as PeerJsConstructor,
    peerOptions: { host: '127.0.0.1', port, path: '/peerjs', secure: false, config: { iceServers: [] }, debug: 2 },
    contactKey: fromHex(keyHex),
    randomBytes: cryptoRandomBytes,
  });
  return new Promise<string>((resolve) => {
    channel.on('message', (frame) => {
      const text = new TextDecoder().decode(frame);
      if (role === 'echo') void channel.send(new TextEncoder().encode(`echo: ${text}`)).then(() => resolve(text));
      else resolve(text);
    });
    if (role === 'ask') void channel.send(new TextEncoder().encode('ping over peerjs'));
  });
};
