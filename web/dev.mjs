// `npm run web`: a Backchannel relay on loopback (the package's own, in memory) and the web app's Vite
// dev server pointed at it. Ctrl-C stops both.
import { createServer } from 'vite';
import { fileURLToPath } from 'node:url';

const { startRelay } = await import('../dist/server/index.js');
const relay = await startRelay({ host: '127.0.0.1', port: Number(process.env.RELAY_PORT ?? 0) });
process.env.VITE_BACKCHANNEL_RELAY = relay.url;
const vite = await createServer({ configFile: fileURLToPath(new URL('./vite.config.ts', import.meta.url)) });
await vite.listen();
console.log(`relay:   ${relay.url} (in memory)`);
vite.printUrls();
const stop = async () => {
  await vite.close();
  await relay.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
