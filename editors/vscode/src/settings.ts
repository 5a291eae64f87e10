// The editor settings the server understands, built from the `durableHarden.*` configuration.
// Pure (no `vscode` import): `get` reads one key of the configuration section.

/** The section the server asks for in `workspace/configuration` (server/lsp/). */
export const SERVER_SECTION = "durable-harden";
/** Our own configuration section in VS Code settings. */
export const CONFIG_SECTION = "durableHarden";

/** Keys passed to the server (initializationOptions and workspace/configuration). */
export const SERVER_KEYS = [
  "select",
  "ignore",
  "severity",
  "unsafeFixes",
  "debounceMs",
  "maxFileBytes",
] as const;

/** Keys only the extension reads (they are never sent to the server). */
export const CLIENT_KEYS = [
  "enable",
  "path",
  "interpreter",
  "importStrategy",
  "docsBaseUrl",
  "trace.server",
] as const;

/** The server reads its rule-page base URL from this variable (server/docs_links.py). */
export const DOCS_BASE_URL_ENV = "DURABLE_HARDEN_DOCS_BASE_URL";

export type Getter = (key: string) => unknown;

const LEVELS = new Set(["error", "warning", "info", "hint", "off"]);

function strings(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  return undefined;
}

/**
 * The settings object for the server. Values of the wrong type are left out (the server would
 * reject the whole object), so one bad setting does not silence the others.
 */
export function serverSettings(get: Getter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const select = strings(get("select"));
  if (select) out.select = select;
  const ignore = strings(get("ignore"));
  if (ignore) out.ignore = ignore;
  const severity = get("severity");
  if (severity && typeof severity === "object" && !Array.isArray(severity)) {
    const levels: Record<string, string> = {};
    for (const [rule, level] of Object.entries(severity as Record<string, unknown>)) {
      if (typeof level === "string" && LEVELS.has(level.trim().toLowerCase())) {
        levels[rule] = level.trim().toLowerCase();
      }
    }
    out.severity = levels;
  }
  const unsafe = get("unsafeFixes");
  if (typeof unsafe === "boolean") out.unsafeFixes = unsafe;
  const debounce = get("debounceMs");
  if (typeof debounce === "number" && debounce >= 0 && debounce <= 5000) {
    out.debounceMs = debounce;
  }
  const maxBytes = get("maxFileBytes");
  if (typeof maxBytes === "number" && Number.isInteger(maxBytes) && maxBytes > 0) {
    out.maxFileBytes = maxBytes;
  }
  return out;
}

/** True when a change of these settings needs a new server process (not just new settings). */
export function needsRestart(affects: (key: string) => boolean): boolean {
  return ["path", "interpreter", "importStrategy", "enable", "docsBaseUrl"].some((key) =>
    affects(`${CONFIG_SECTION}.${key}`),
  );
}
