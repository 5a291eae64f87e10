// verifies: timer-blocks-hibernation
// The match countdown that used setTimeout now runs from alarm().
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { pendingAlarm, runAlarmUntil, timersStartedDuring, withClockAdvanced } from "../../lib/helpers";

const COUNTDOWN_MS = 10_000; // mirrors lobby.ts

it("start() starts no timer; it arms the alarm for the end of the countdown", async () => {
  const stub = env.LOBBY.getByName("countdown-1");
  await stub.join("ann");
  await stub.join("bob");
  const before = Date.now();
  const delays = await timersStartedDuring(async () => {
    expect(await stub.start("ann")).toMatchObject({ status: "starting" });
  });
  expect(delays.filter((ms) => ms >= 1000)).toEqual([]);
  const due = (await pendingAlarm(stub))!;
  expect(due).toBeGreaterThanOrEqual(before + COUNTDOWN_MS);
  expect(due).toBeLessThanOrEqual(Date.now() + COUNTDOWN_MS);
});

it("the alarm starts the match when the countdown ends", async () => {
  const stub = env.LOBBY.getByName("countdown-2");
  await stub.join("ann");
  await stub.join("bob");
  await stub.start("ann");
  await withClockAdvanced(COUNTDOWN_MS + 1000, async () => {
    await runAlarmUntil(stub, async () => (await stub.view()).status === "in_game");
  });
  expect((await stub.recentEvents())[0].kind).toBe("match_started");
  expect((await stub.view()).players).toEqual(["ann", "bob"]); // the idle close is not due yet
  expect(await pendingAlarm(stub)).not.toBeNull(); // idle close and event TTL still pending
});
