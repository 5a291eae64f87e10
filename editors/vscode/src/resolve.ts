// Which process to start as the language server. Pure Node (no `vscode` import) so that it can be
// tested with plain `node --test`.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const DEFAULT_EXECUTABLE = "durable-harden";
export const INSTALL_HINT = "pip install durable-harden";

export interface ServerSettings {
  /** `durableHarden.path`: a name looked up on PATH, or a path. */
  path?: string;
  /** `durableHarden.interpreter`: a Python with durable-harden installed. */
  interpreter?: string;
}

export interface ServerCommand {
  command: string;
  args: string[];
  /** Which setting chose it, for messages. */
  source: "path" | "interpreter" | "default";
}

export interface Env {
  PATH?: string;
  PATHEXT?: string;
}

export class ServerNotFound extends Error {
  constructor(
    message: string,
    readonly tried: string[],
  ) {
    super(message);
    this.name = "ServerNotFound";
  }
}

function isFile(candidate: string): boolean {
  try {
    const stat = fs.statSync(candidate);
    if (!stat.isFile()) return false;
    if (process.platform === "win32") return true;
    fs.accessSync(candidate, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expandHome(value: string): string {
  if (value === "~") return os.homedir();
  if (value.startsWith("~/")) return path.join(os.homedir(), value.slice(2));
  return value;
}

/** The full path of an executable: `name` on PATH, or a path (relative to `cwd`). */
export function findExecutable(name: string, env: Env, cwd?: string): string | undefined {
  const value = expandHome(name.trim());
  if (!value) return undefined;
  const exts =
    process.platform === "win32" ? ["", ...(env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";")] : [""];
  if (value.includes("/") || value.includes(path.sep)) {
    const full = path.isAbsolute(value) ? value : path.resolve(cwd ?? process.cwd(), value);
    return exts.map((e) => full + e).find(isFile);
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, value + ext);
      if (isFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * The server command, in this order:
 * 1. `durableHarden.path` when the user changed it from its default: `<path> serve`;
 * 2. `durableHarden.interpreter` when set: `<python> -m server.cli serve`;
 * 3. `durable-harden serve` from PATH.
 * Throws ServerNotFound (with the install hint) when the chosen program does not exist.
 */
export function resolveServerCommand(
  settings: ServerSettings,
  env: Env,
  cwd?: string,
): ServerCommand {
  const configured = (settings.path ?? "").trim();
  const interpreter = (settings.interpreter ?? "").trim();
  const tried: string[] = [];
  if (configured && configured !== DEFAULT_EXECUTABLE) {
    const found = findExecutable(configured, env, cwd);
    if (found) return { command: found, args: ["serve"], source: "path" };
    tried.push(`durableHarden.path = ${configured}`);
    throw new ServerNotFound(
      `The durable-harden executable "${configured}" (setting durableHarden.path) was not found. ` +
        `Install the server with \`${INSTALL_HINT}\`, or fix the setting.`,
      tried,
    );
  }
  if (interpreter) {
    const found = findExecutable(interpreter, env, cwd);
    if (found) return { command: found, args: ["-m", "server.cli", "serve"], source: "interpreter" };
    tried.push(`durableHarden.interpreter = ${interpreter}`);
    throw new ServerNotFound(
      `The Python interpreter "${interpreter}" (setting durableHarden.interpreter) was not found. ` +
        `Point it at a Python where \`${INSTALL_HINT}\` was run, or clear the setting.`,
      tried,
    );
  }
  const found = findExecutable(DEFAULT_EXECUTABLE, env, cwd);
  if (found) return { command: found, args: ["serve"], source: "default" };
  tried.push(`${DEFAULT_EXECUTABLE} on PATH`);
  throw new ServerNotFound(
    `The durable-harden language server was not found on PATH. Install it with ` +
      `\`${INSTALL_HINT}\` (in the Python environment VS Code sees), or set ` +
      `durableHarden.path to the executable or durableHarden.interpreter to a Python that has it.`,
    tried,
  );
}
