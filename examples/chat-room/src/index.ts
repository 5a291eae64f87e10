import type { Env } from "./env";

export { ChatRoom } from "./chat-room";

// /room/<name>, /room/<name>/ws, /room/<name>/messages
const ROOM_PATH = /^\/room\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?:\/|$)/;

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    const match = ROOM_PATH.exec(url.pathname);
    if (!match) {
      return new Response("not found", { status: 404 });
    }

    // Every room name maps to exactly one object, wherever the request lands.
    const room = match[1];
    const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));
    return stub.fetch(request);
  },
} satisfies ExportedHandler<Env>;
