import type { Env } from "./env";

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
    try {
      switch (action) {
        case "join":
          return Response.json(await lobby.join(player));
        case "leave":
          return Response.json(await lobby.leave(player));
        default:
          return Response.json(await lobby.start(player));
      }
    } catch (error) {
      // join/start refuse with a reason ("lobby closed", "lobby full", "cannot start now").
      return new Response(String(error instanceof Error ? error.message : error), { status: 409 });
    }
  },
} satisfies ExportedHandler<Env>;
