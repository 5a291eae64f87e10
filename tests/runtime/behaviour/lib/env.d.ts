// Types `env` from "cloudflare:test" as the example's own Env (src/env.ts) when
// the behaviour tests are type-checked (tsconfig.behaviour.json).
import type { Env as ProjectEnv } from "../../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends ProjectEnv {}
  }
}

export {};
