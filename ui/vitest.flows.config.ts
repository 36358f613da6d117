import { defineConfig } from "vitest/config";

// UI flows: the production build in headless Chromium (flows/harness.ts). `npm run flows`
// after `npm run build`.
export default defineConfig({
  test: {
    environment: "node",
    include: ["flows/**/*.flow.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
