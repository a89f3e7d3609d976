import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // installs Debian's chromium for the page test of `popcorn viz` when it is missing and we may (root, apt-get)
    // and qemu + Debian's arm64 Node.js for the aarch64@qemu tests (popcorn setup arm64), the same way
    // and keeps every temporary file of the run in one folder it removes at the end (tmp.ts)
    globalSetup: ["test/setup/tmp.ts", "test/setup/browser.ts", "test/setup/arm64.ts"],
  },
});
