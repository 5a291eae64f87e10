// AlarmScheduler (shrinathsnayak/cloudflare-experiments do-alarm-scheduler): one KV record and
// the object's alarm. Harden only moves its migration to `new_sqlite_classes` (wrangler); the
// class must schedule, report and fire exactly as before.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

type Record = { id: string; message: string; seconds: number; status: string; scheduledFor: string; firedAt?: string };

describe("AlarmScheduler", () => {
  it("answers 404 before anything is scheduled and for unknown paths", async () => {
    const s = env.ALARM_SCHEDULER.get(env.ALARM_SCHEDULER.idFromName("empty"));
    expect((await s.fetch("https://do/status")).status).toBe(404);
    expect((await s.fetch("https://do/nope")).status).toBe(404);
  });

  it("schedules a record, arms the alarm at its time, and marks it fired when the alarm runs", async () => {
    const s = env.ALARM_SCHEDULER.get(env.ALARM_SCHEDULER.idFromName("job"));
    const before = Date.now();
    const created = await s.fetch("https://do/schedule", {
      method: "POST",
      body: JSON.stringify({ seconds: 60, message: "hello", id: "j1" }),
    });
    expect(created.status).toBe(201);
    const record = (await created.json()) as Record;
    expect(record).toMatchObject({ id: "j1", message: "hello", seconds: 60, status: "scheduled" });
    const alarm = await runInDurableObject(s, (_i: unknown, state: DurableObjectState) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThanOrEqual(before + 60_000);
    expect(alarm).toBe(Date.parse(record.scheduledFor));
    expect(((await (await s.fetch("https://do/status")).json()) as Record).status).toBe("scheduled");
    expect(await runDurableObjectAlarm(s)).toBe(true);
    const fired = (await (await s.fetch("https://do/status")).json()) as Record;
    expect(fired).toMatchObject({ id: "j1", status: "fired" });
    expect(typeof fired.firedAt).toBe("string");
    // the alarm ran once and did not re-arm
    expect(await runDurableObjectAlarm(s)).toBe(false);
  });
});
