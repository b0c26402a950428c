import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import the sources; .cts modules (the CommonJS ones) are TypeScript too.
  oxc: { include: /\.(m|c)?tsx?$/ },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
