// vitest config copied into each temporary example project by tests/runtime/harness.py.
// Tests run inside workerd through @cloudflare/vitest-pool-workers, with the
// project's own wrangler.jsonc (bindings, Durable Object classes, compat date).
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Keep vite's cache in the temporary project, not in the shared node_modules.
  cacheDir: ".vite-cache",
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      miniflare: {
        // The machine is offline; make every outbound fetch() fail fast and
        // deterministically instead of waiting on DNS. (chat-room's moderation
        // upstream sees a refused upgrade and carries on without it.)
        outboundService: () => new Response("outbound network disabled in runtime tests", { status: 503 }),
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 15_000,
  },
});
