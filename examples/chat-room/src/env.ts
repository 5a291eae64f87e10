import type { ChatRoom } from "./chat-room";

export interface Env {
  CHAT_ROOM: DurableObjectNamespace<ChatRoom>;
  MODERATION_URL: string;
}
