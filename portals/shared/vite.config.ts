import { defineConfig } from "vitest/config";

// The session page: index.html + src/page.ts, built into dist/ and served by
// `accord serve` (crates/api/src/portal.rs) at / and /session/<id>, with its
// files under /assets/. No inline scripts or styles: the page's CSP is
// default-src 'self'.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: true,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npm run dev` against a running `accord dev` on 8080.
    proxy: {
      "/auth": "http://127.0.0.1:8080",
      "/graphql": "http://127.0.0.1:8080",
      "/sfu": { target: "ws://127.0.0.1:8080", ws: true },
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
