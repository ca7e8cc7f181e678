import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

/**
 * A portal's Vite (and Vitest) configuration: built into portals/dist/<name>
 * and served by `accord serve` under `base` (crates/api/src/portal.rs), with
 * history fallback to its index.html and its content-hashed files under
 * `<base>assets/` cached for a year. No inline scripts or styles: the pages'
 * CSP is default-src 'self'.
 */
export function portalConfig(name: "admin" | "client", base: string) {
  return defineConfig({
    base,
    plugins: [react()],
    build: {
      outDir: `../dist/${name}`,
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
      include: ["test/**/*.test.{ts,tsx}"],
      environment: "node",
    },
  });
}
