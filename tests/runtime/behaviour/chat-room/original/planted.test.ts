// The planted problems, observed in workerd on the ORIGINAL example. They show
// that the hardened-build tests (hardened/) check something the original lacks.
import { env, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { queryPlan, sqlIn } from "../../lib/helpers";

it("the room history query scans the table and sorts in a temp b-tree (no index yet)", async () => {
  await SELF.fetch("https://chat.test/room/planted-1/messages");
  const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName("planted-1"));
  const plan = await queryPlan(
    stub,
    "SELECT author, body, created_at FROM messages WHERE room = ? ORDER BY created_at DESC LIMIT 50",
    "planted-1",
  );
  expect(plan.join("\n")).toMatch(/SCAN messages/);
  expect(plan.join("\n")).toMatch(/USE TEMP B-TREE FOR ORDER BY/);
});

it("messages have no expiry column (nothing ever deletes them)", async () => {
  await SELF.fetch("https://chat.test/room/planted-2/messages");
  const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName("planted-2"));
  const columns = await sqlIn<{ name: string }>(stub, "PRAGMA table_info(messages)");
  expect(columns.map((c) => c.name)).not.toContain("expires_at");
});
