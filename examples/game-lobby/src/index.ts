import type { Env } from "./env";
import type { LobbyView, Refusal } from "./lobby";

export { Lobby } from "./lobby";

// /lobby/<name>, /lobby/<name>/join, /lobby/<name>/leave, /lobby/<name>/start
const LOBBY_PATH = /^\/lobby\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?:\/(join|leave|start))?$/;

export default {
  async fetch(request, env): Promise<Response> {
    const match = LOBBY_PATH.exec(new URL(request.url).pathname);
    if (!match) {
      return new Response("not found", { status: 404 });
    }
    const [, name, action] = match;
    const lobby = env.LOBBY.getByName(name);

    if (!action && request.method === "GET") {
      return Response.json(await lobby.view());
    }
    if (!action || request.method !== "POST") {
      return new Response("method not allowed", { status: 405 });
    }
    const { player } = await request.json<{ player?: string }>();
    if (!player) {
      return new Response("player required", { status: 400 });
    }
    let result: LobbyView | Refusal;
    switch (action) {
      case "join":
        result = await lobby.join(player);
        break;
      case "leave":
        result = await lobby.leave(player);
        break;
      default:
        result = await lobby.start(player);
    }
    if ("refused" in result) {
      return new Response(result.refused, { status: 409 });
    }
    return Response.json(result);
  },
} satisfies ExportedHandler<Env>;
