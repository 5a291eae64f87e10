// Shared helpers for the behaviour tests. Copied to test/lib/ in each temporary
// project; tests run in workerd in the same isolate as the Durable Objects, so
// vi.setSystemTime() moves Date.now() for the object's code as well.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { vi } from "vitest";

export const DAY_MS = 24 * 60 * 60 * 1000;

// Run `body` with Date.now() moved `ms` into the future (only Date is faked;
// real timers keep working so awaits and WebSocket events still flow).
export async function withClockAdvanced<T>(ms: number, body: () => Promise<T>): Promise<T> {
  const realNow = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(realNow + ms);
  try {
    return await body();
  } finally {
    vi.useRealTimers();
  }
}

// SQL run inside the object's own SQLite database.
export function sqlIn<T = Record<string, SqlStorageValue>>(
  stub: DurableObjectStub,
  query: string,
  ...bindings: unknown[]
): Promise<T[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}

export function pendingAlarm(stub: DurableObjectStub): Promise<number | null> {
  return runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
}

// EXPLAIN QUERY PLAN inside the object's SQLite; returns the plan's detail lines.
export async function queryPlan(stub: DurableObjectStub, query: string, ...bindings: unknown[]): Promise<string[]> {
  const rows = await sqlIn<{ detail: string }>(stub, `EXPLAIN QUERY PLAN ${query}`, ...bindings);
  return rows.map((r) => r.detail);
}

// Runs the alarm until `done()` holds (bounded batches may need several runs;
// an alarm set in the past may also have fired on its own already).
export async function runAlarmUntil(stub: DurableObjectStub, done: () => Promise<boolean>, maxRuns = 10): Promise<void> {
  for (let i = 0; i < maxRuns; i++) {
    if (await done()) return;
    await runDurableObjectAlarm(stub);
  }
  if (!(await done())) throw new Error(`condition still false after ${maxRuns} alarm runs`);
}

// Polls `check` every 20 ms (counted in polls, not Date.now(), which a test may have frozen).
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += 20) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (await check()) return;
  throw new Error(`timed out waiting for: ${what}`);
}

// A WebSocket client whose frames are collected as parsed JSON.
export class Client {
  readonly frames: any[] = [];
  closed: { code: number; reason: string } | null = null;
  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      this.frames.push(typeof ev.data === "string" ? JSON.parse(ev.data) : ev.data);
    });
    ws.addEventListener("close", (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
    });
    ws.accept();
  }

  async next(pred: (frame: any) => boolean, what: string, timeoutMs = 3000): Promise<any> {
    let found: any;
    await eventually(
      async () => {
        const i = this.frames.findIndex(pred);
        if (i < 0) return false;
        found = this.frames.splice(i, 1)[0];
        return true;
      },
      what,
      timeoutMs,
    );
    return found;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }
}

export async function connect(fetcher: Fetcher, url: string): Promise<Client> {
  const res = await fetcher.fetch(url, { headers: { Upgrade: "websocket" } });
  if (res.status !== 101 || !res.webSocket) {
    throw new Error(`expected 101 with a WebSocket from ${url}, got ${res.status}: ${await res.text()}`);
  }
  return new Client(res.webSocket);
}

// Delays of timers the object's code starts while `body` runs (setTimeout/setInterval
// are looked up on globalThis at call time, so spying here sees the object's calls).
export async function timersStartedDuring(body: () => Promise<void>): Promise<number[]> {
  const delays: number[] = [];
  const interval = vi.spyOn(globalThis, "setInterval");
  const timeout = vi.spyOn(globalThis, "setTimeout");
  try {
    await body();
  } finally {
    for (const call of [...interval.mock.calls, ...timeout.mock.calls]) {
      delays.push(Number(call[1] ?? 0));
    }
    interval.mockRestore();
    timeout.mockRestore();
  }
  return delays;
}

// runInDurableObject with the instance untyped, for tests that reach into handler
// methods (TypeScript's inference over DurableObjectStub<T> can otherwise recurse too deep).
export function inObject<R>(
  stub: DurableObjectStub,
  body: (instance: any, state: DurableObjectState) => R | Promise<R>,
): Promise<R> {
  const run = runInDurableObject as unknown as (s: DurableObjectStub, b: typeof body) => Promise<R>;
  return run(stub, body);
}
