/** Storybook's Vite: the SDK from its sources, as the web app builds it (web/sdkAliases.ts). */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { sdkAliases } from '../web/sdkAliases.js';

/** Node-only imports of the relay's modules, for the dev server (see nodeShims.ts). */
const shims = fileURLToPath(new URL('./nodeShims.ts', import.meta.url));
const NODE_ONLY = /^(node:(crypto|http|path|fs\/promises)|ws)$/;

export default defineConfig({
  plugins: [react()],
  resolve: { alias: [...sdkAliases(), { find: NODE_ONLY, replacement: shims }] },
  build: { target: 'es2022', chunkSizeWarningLimit: 8000 },
  optimizeDeps: { esbuildOptions: { target: 'es2022' } },
});
