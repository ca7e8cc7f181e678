import { defineConfig } from "vitest/config";

// The shared package is not built on its own: the portals bundle it. This
// configures its unit tests (node by default; a test that renders React
// components says `// @vitest-environment jsdom`).
export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    environment: "node",
  },
});
