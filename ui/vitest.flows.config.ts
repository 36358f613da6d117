import { defineConfig } from "vitest/config";

// UI flows and benchmarks: the production build in headless Chromium (flows/harness.ts).
// `npm run flows` / `npm run bench:chromium` after `npm run build`.
export default defineConfig({
  test: {
    environment: "node",
    include: ["flows/**/*.flow.test.ts"],
    benchmark: { include: ["flows/**/*.bench.ts"] },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
