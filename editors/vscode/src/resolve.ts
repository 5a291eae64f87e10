// Which process to start as the language server. Pure Node (no `vscode` import) so that it can be
// tested with plain `node --test`.
//
// The extension ships the server (bundled/libs, built by scripts/bundle_server.py) and starts it
// with a Python 3.11+ through bundled/tool/launch.py in isolated mode (`python -I`), from the
// extension's folder: neither the workspace nor PYTHONPATH is on sys.path, so a `server/` package
// or `durable_harden.py` in the user's project is never imported in place of the server.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What works to get a server: the .vsix carries one; the CLI installs from the repository. */
export const INSTALL_HINT =
  "The extension brings its own server and needs only Python 3.11 or newer: install Python, " +
  "select it with the Python extension or set durableHarden.interpreter. " +
  "For the CLI, from a checkout of the durable-harden repository: python3 -m pip install .";

export const IMPORT_STRATEGIES = ["useBundled", "fromEnvironment"] as const;
export type ImportStrategy = (typeof IMPORT_STRATEGIES)[number];

export interface ServerSettings {
  /** `durableHarden.path`: a durable-harden executable (a name on PATH, or a path); overrides all. */
  path?: string;
  /** `durableHarden.interpreter`: the Python to start the server with. */
  interpreter?: string;
  /** `durableHarden.importStrategy`. */
  importStrategy?: string;
}

export interface LaunchContext {
  /** The extension's folder (holds bundled/); also the server's current directory. */
  extensionPath: string;
  /** The Python the Python extension (ms-python.python) selected for the workspace, if any. */
  pythonFromExtension?: string;
  /** Workspace folders (relative settings resolve against the first). */
  workspaceFolders?: string[];
  /** Whether the workspace is trusted: untrusted ones never run an interpreter found in them. */
  trusted?: boolean;
}

export interface ServerCommand {
  command: string;
  args: string[];
  /** The current directory of the server process: never a workspace folder. */
  cwd: string;
  /** What chose it, for messages. */
  source: "path" | "interpreter" | "python-extension" | "PATH";
  importStrategy?: ImportStrategy;
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
    if (!path.isAbsolute(value) && cwd === undefined) return undefined;
    const full = path.isAbsolute(value) ? value : path.resolve(cwd as string, value);
    return exts.map((e) => full + e).find(isFile);
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue; // a relative PATH entry would be the cwd's
    for (const ext of exts) {
      const candidate = path.join(dir, value + ext);
      if (isFile(candidate)) return candidate;
    }
  }
  return undefined;
}

function inside(file: string, folders: string[]): boolean {
  return folders.some((folder) => {
    const rel = path.relative(folder, file);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  });
}

/** bundled/tool/launch.py of the extension. */
export function launcherPath(extensionPath: string): string {
  return path.join(extensionPath, "bundled", "tool", "launch.py");
}

export function importStrategy(value: string | undefined): ImportStrategy {
  return value === "fromEnvironment" ? "fromEnvironment" : "useBundled";
}

/**
 * The server command, in this order:
 * 1. `durableHarden.path` when set: `<path> serve` (an installed durable-harden executable);
 * 2. otherwise a Python: `durableHarden.interpreter`, else the Python extension's selected
 *    environment, else `python3` (`python` on Windows) on PATH; started as
 *    `<python> -I <extension>/bundled/tool/launch.py [--from-environment] serve`.
 * In an untrusted workspace an interpreter from the Python extension that lies inside a
 * workspace folder is not used (running it would run the workspace's code).
 * Throws ServerNotFound (with what works to install) when nothing usable is found.
 */
export function resolveServerCommand(
  settings: ServerSettings,
  env: Env,
  ctx: LaunchContext,
): ServerCommand {
  const folders = ctx.workspaceFolders ?? [];
  const cwd = ctx.extensionPath;
  const base = folders[0];
  const configured = (settings.path ?? "").trim();
  const tried: string[] = [];
  if (configured) {
    const found = findExecutable(configured, env, base);
    if (found) return { command: found, args: ["serve"], cwd, source: "path" };
    tried.push(`durableHarden.path = ${configured}`);
    throw new ServerNotFound(
      `The durable-harden executable "${configured}" (setting durableHarden.path) was not found. ` +
        `Clear the setting to use the server bundled with the extension, or fix it.`,
      tried,
    );
  }
  const strategy = importStrategy(settings.importStrategy);
  const args = ["-I", launcherPath(ctx.extensionPath)];
  if (strategy === "fromEnvironment") args.push("--from-environment");
  args.push("serve");

  const interpreter = (settings.interpreter ?? "").trim();
  if (interpreter) {
    const found = findExecutable(interpreter, env, base);
    if (found) return { command: found, args, cwd, source: "interpreter", importStrategy: strategy };
    tried.push(`durableHarden.interpreter = ${interpreter}`);
    throw new ServerNotFound(
      `The Python interpreter "${interpreter}" (setting durableHarden.interpreter) was not found. ` +
        `Point it at a Python 3.11+ or clear the setting.`,
      tried,
    );
  }
  const fromExtension = (ctx.pythonFromExtension ?? "").trim();
  if (fromExtension) {
    if (ctx.trusted === false && inside(fromExtension, folders)) {
      tried.push(`Python extension: ${fromExtension} (inside the untrusted workspace: not used)`);
    } else if (isFile(fromExtension)) {
      return {
        command: fromExtension,
        args,
        cwd,
        source: "python-extension",
        importStrategy: strategy,
      };
    } else {
      tried.push(`Python extension: ${fromExtension} (not found)`);
    }
  }
  for (const name of process.platform === "win32" ? ["python", "py"] : ["python3", "python"]) {
    const found = findExecutable(name, env);
    if (found) return { command: found, args, cwd, source: "PATH", importStrategy: strategy };
    tried.push(`${name} on PATH`);
  }
  throw new ServerNotFound(
    `Durable Harden found no Python to run its language server. ${INSTALL_HINT}`,
    tried,
  );
}
