import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // installs Debian's chromium for the page test of `popcorn viz` when it is missing and we may (root, apt-get)
    globalSetup: ["test/setup/browser.ts"],
  },
});
