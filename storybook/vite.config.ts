/** Storybook's Vite: the SDK from its sources, as the web app builds it (web/sdkAliases.ts). */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { sdkAliases } from '../web/sdkAliases.js';

export default defineConfig({
  plugins: [react()],
  resolve: { alias: sdkAliases() },
  build: { target: 'es2022', chunkSizeWarningLimit: 8000 },
  optimizeDeps: { esbuildOptions: { target: 'es2022' } },
});
