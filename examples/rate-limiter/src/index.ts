import type { Env } from "./env";
import type { Session } from "./session-store";

export { RateLimiter } from "./rate-limiter";
export { SessionStore } from "./session-store";
export { ExportJob } from "./export-job";

const SESSION_COOKIE = "sid";

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    const client = request.headers.get("CF-Connecting-IP") ?? "unknown";

    const verdict = await env.RATE_LIMITER.getByName(client).take();
    if (!verdict.allowed) {
      return new Response("too many requests", {
        status: 429,
        headers: { "Retry-After": String(verdict.retryAfterSec) },
      });
    }

    switch (`${request.method} ${url.pathname}`) {
      case "POST /login":
        return login(request, env);
      case "POST /logout":
        return logout(request, env);
      case "GET /me":
        return me(request, env);
      case "POST /exports":
        return startExport(request, env);
    }
    if (request.method === "GET" && url.pathname.startsWith("/exports/")) {
      return exportStatus(request, env, url.pathname.slice("/exports/".length));
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;

// Credentials are checked by the identity proxy in front of this Worker;
// it forwards the verified user id.
async function login(request: Request, env: Env): Promise<Response> {
  const { userId, device } = await request.json<{ userId?: string; device?: string }>();
  if (!userId) {
    return new Response("userId required", { status: 400 });
  }
  const sessions = env.SESSIONS.getByName(userId);
  await sessions.init(userId);
  const sessionId = await sessions.create({ device: device ?? "unknown" });
  await env.AUDIT_LOG.getByName(userId).record("login", device);

  const cookie = `${SESSION_COOKIE}=${encodeURIComponent(userId)}.${sessionId}`;
  return new Response(null, {
    status: 204,
    headers: { "Set-Cookie": `${cookie}; HttpOnly; Secure; SameSite=Lax; Path=/` },
  });
}

async function logout(request: Request, env: Env): Promise<Response> {
  const cookie = readSessionCookie(request);
  if (cookie) {
    await env.SESSIONS.getByName(cookie.userId).revoke(cookie.sessionId);
    await env.AUDIT_LOG.getByName(cookie.userId).record("logout");
  }
  return new Response(null, {
    status: 204,
    headers: { "Set-Cookie": `${SESSION_COOKIE}=; Max-Age=0; Path=/` },
  });
}

async function me(request: Request, env: Env): Promise<Response> {
  const session = await currentSession(request, env);
  if (!session) {
    return new Response("unauthorized", { status: 401 });
  }
  return Response.json({
    userId: session.user_id,
    expiresAt: session.expires_at,
    data: JSON.parse(session.data ?? "null"),
  });
}

async function startExport(request: Request, env: Env): Promise<Response> {
  const session = await currentSession(request, env);
  if (!session) {
    return new Response("unauthorized", { status: 401 });
  }
  const id = env.EXPORT_JOBS.newUniqueId();
  await env.EXPORT_JOBS.get(id).start(session.user_id);
  await env.AUDIT_LOG.getByName(session.user_id).record("export", id.toString());
  return Response.json({ jobId: id.toString() }, { status: 202 });
}

async function exportStatus(request: Request, env: Env, jobId: string): Promise<Response> {
  const session = await currentSession(request, env);
  if (!session) {
    return new Response("unauthorized", { status: 401 });
  }
  let id: DurableObjectId;
  try {
    id = env.EXPORT_JOBS.idFromString(jobId);
  } catch {
    return new Response("not found", { status: 404 });
  }
  const job = await env.EXPORT_JOBS.get(id).status();
  // Don't reveal other users' jobs.
  if (!job || job.userId !== session.user_id) {
    return new Response("not found", { status: 404 });
  }
  return Response.json(job);
}

async function currentSession(request: Request, env: Env): Promise<Session | null> {
  const cookie = readSessionCookie(request);
  if (!cookie) {
    return null;
  }
  return await env.SESSIONS.getByName(cookie.userId).lookup(cookie.sessionId);
}

// Cookie value is "<url-encoded user id>.<session uuid>".
function readSessionCookie(request: Request): { userId: string; sessionId: string } | null {
  const raw = (request.headers.get("Cookie") ?? "")
    .split(/;\s*/)
    .find((part) => part.startsWith(`${SESSION_COOKIE}=`))
    ?.slice(SESSION_COOKIE.length + 1);
  const dot = raw?.lastIndexOf(".") ?? -1;
  if (!raw || dot <= 0) {
    return null;
  }
  return { userId: decodeURIComponent(raw.slice(0, dot)), sessionId: raw.slice(dot + 1) };
}
