import { defineConfig, configDefaults } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // *.types.test.ts hold the public types: checked by the compiler (typecheck below), never run.
    exclude: [...configDefaults.exclude, 'test/**/*.types.test.ts'],
    typecheck: { enabled: true, include: ['test/**/*.types.test.ts'], tsconfig: './tsconfig.json' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Interop tests start real processes; two cores, so keep files from starving each other.
    maxWorkers: 2,
  },
});
