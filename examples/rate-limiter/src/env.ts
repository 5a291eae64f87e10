import type { AuditLog } from "./audit-log";
import type { ExportJob } from "./export-job";
import type { RateLimiter } from "./rate-limiter";
import type { SessionStore } from "./session-store";

export interface Env {
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  SESSIONS: DurableObjectNamespace<SessionStore>;
  AUDIT_LOG: DurableObjectNamespace<AuditLog>;
  EXPORT_JOBS: DurableObjectNamespace<ExportJob>;
  EXPORTS: R2Bucket;
}
