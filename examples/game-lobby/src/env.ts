import type { Lobby } from "./lobby";

export interface Env {
  LOBBY: DurableObjectNamespace<Lobby>;
}
