// verifies: sql-missing-index
// The room history query uses the index the fix added (inside the object's SQLite).
import { env, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { queryPlan } from "../../lib/helpers";

it("EXPLAIN QUERY PLAN of the history query searches an index and needs no sort", async () => {
  await SELF.fetch("https://chat.test/room/index-1/messages"); // create the schema
  const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName("index-1"));
  const plan = (
    await queryPlan(
      stub,
      "SELECT author, body, created_at FROM messages WHERE room = ? ORDER BY created_at DESC LIMIT 50",
      "index-1",
    )
  ).join("\n");
  expect(plan).toMatch(/SEARCH messages USING (COVERING )?INDEX \w+ \(room=\?\)/);
  expect(plan).not.toMatch(/SCAN messages/);
  expect(plan).not.toMatch(/TEMP B-TREE/);
});
