// verifies: obsolete-name-workaround
// A SessionStore reached with getByName() knows its user from ctx.id.name: no init() call
// (and no stored "name") is needed before creating sessions.
import { env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { sqlIn } from "../../lib/helpers";

it("creates sessions for the user it is named after, without init()", async () => {
  const store = env.SESSIONS.getByName("named-user");
  const id = await store.create({ device: "watch" });
  expect(await store.lookup(id)).toMatchObject({ id, user_id: "named-user" });
  const rows = await sqlIn<{ user_id: string }>(store, "SELECT user_id FROM sessions");
  expect(rows).toEqual([{ user_id: "named-user" }]);
  const name = await runInDurableObject(store, (_i, state) => state.id.name);
  expect(name).toBe("named-user");
});
