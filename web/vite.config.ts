/**
 * The web app's build: React, the SDK from its sources (sdkAliases), and a service worker that
 * precaches the built files so the installed app opens offline (serviceWorker.ts).
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { sdkAliases } from './sdkAliases.js';
import { serviceWorker } from './serviceWorker.js';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react(), serviceWorker()],
  resolve: { alias: sdkAliases() },
  build: { outDir: fileURLToPath(new URL('../dist-web', import.meta.url)), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8000 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
