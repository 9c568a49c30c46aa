import { defineConfig } from 'vitest/config';

/**
 * Suites that must run inside a network namespace (WebRTC gathers every interface). The outer test
 * makes the namespace and runs vitest with this config inside it; the main run never picks these up.
 */
export default defineConfig({
  test: {
    include: ['test/netns/**/*.netns.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
