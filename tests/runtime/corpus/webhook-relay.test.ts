// WebhookRelay (shrinathsnayak/cloudflare-experiments webhook-relay-inspector): KV-stored
// session meta, captured requests and their index. Harden drops `await` between consecutive
// put()s (await-between-kv-writes): the writes must still all land, in order.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("WebhookRelay", () => {
  it("creates a session, captures requests and lists them", async () => {
    const s = env.WEBHOOK_RELAY.get(env.WEBHOOK_RELAY.idFromName("relay"));
    expect((await s.fetch("https://do/requests")).status).toBe(404);
    const init = await s.fetch("https://do/init", { method: "POST", body: JSON.stringify({ id: "r1" }) });
    expect(init.status).toBe(201);
    expect(((await init.json()) as { id: string }).id).toBe("r1");
    for (const n of [1, 2]) {
      const captured = await s.fetch(`https://do/relay/r1?n=${n}`, { method: "POST", body: `hello ${n}` });
      expect(captured.status).toBeLessThan(300);
    }
    const listed = (await (await s.fetch("https://do/requests")).json()) as {
      id: string;
      requests: { id: string }[];
    };
    expect(listed.id).toBe("r1");
    expect(listed.requests).toHaveLength(2);
    const detail = await s.fetch(`https://do/requests/${listed.requests[0].id}`);
    expect(detail.status).toBe(200);
    // every write reached storage: the meta, the index and each record
    await runInDurableObject(s, async (_instance: unknown, state: DurableObjectState) => {
      const keys = [...(await state.storage.list()).keys()];
      expect(keys.length).toBeGreaterThanOrEqual(4);
    });
  });
});
