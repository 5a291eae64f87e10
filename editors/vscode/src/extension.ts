// VS Code client for the durable-harden language server (`durable-harden serve`, stdio).
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import { INSTALL_HINT, resolveServerCommand, ServerNotFound } from "./resolve";
import { CONFIG_SECTION, needsRestart, SERVER_SECTION, serverSettings } from "./settings";

// read by tests/editors/test_vscode_extension.py from the bundle, to compare with the server
export { CLIENT_KEYS, CONFIG_SECTION, SERVER_KEYS, SERVER_SECTION } from "./settings";

/** Workspace commands and code action kinds of the server (server/lsp.py). */
export const SERVER_COMMANDS = { hardenAll: "durable-harden.hardenAll" } as const;
export const FIX_ALL_KIND = "source.fixAll.durable-harden";

/** Commands this extension contributes (package.json `contributes.commands`). */
export const COMMANDS = {
  hardenAll: "durableHarden.hardenAll",
  restart: "durableHarden.restart",
  showOutput: "durableHarden.showOutput",
} as const;

const NAME = "Durable Harden";

/** TypeScript/JavaScript sources and wrangler configs, on disk (the server reads files). */
export const DOCUMENT_SELECTOR = [
  { scheme: "file", language: "typescript" },
  { scheme: "file", language: "typescriptreact" },
  { scheme: "file", language: "javascript" },
  { scheme: "file", language: "javascriptreact" },
  { scheme: "file", pattern: "**/wrangler.{toml,json,jsonc}" },
];

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let traceOutput: vscode.LogOutputChannel;
let starting: Promise<void> | undefined;

function config(scope?: vscode.Uri): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
}

function settingsFor(scope?: vscode.Uri): Record<string, unknown> {
  const cfg = config(scope);
  return serverSettings((key) => cfg.get(key));
}

function firstFolder(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

async function reportNotFound(error: ServerNotFound): Promise<void> {
  output.error(`${error.message} (tried: ${error.tried.join("; ")})`);
  const choice = await vscode.window.showErrorMessage(
    error.message,
    "Copy install command",
    "Open Settings",
    "Show Output",
  );
  if (choice === "Copy install command") {
    await vscode.env.clipboard.writeText(INSTALL_HINT);
    void vscode.window.showInformationMessage(
      `Copied \`${INSTALL_HINT}\`. Run it, then "Durable Harden: Restart server".`,
    );
  } else if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", CONFIG_SECTION);
  } else if (choice === "Show Output") {
    output.show(true);
  }
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: output,
    traceOutputChannel: traceOutput,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    initializationOptions: () => settingsFor(),
    middleware: {
      workspace: {
        // The server asks for section "durable-harden"; our settings live under "durableHarden".
        configuration: async (params, token, next) => {
          const ours = params.items.map((item) => item.section === SERVER_SECTION);
          if (ours.every(Boolean)) {
            return params.items.map((item) =>
              settingsFor(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined),
            );
          }
          const theirs = await next(params, token);
          if (theirs instanceof ResponseError) return theirs;
          return params.items.map((item, i) =>
            ours[i]
              ? settingsFor(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
              : theirs[i],
          );
        },
      },
    },
  };
}

async function start(): Promise<void> {
  const folder = firstFolder();
  let resolved;
  try {
    resolved = resolveServerCommand(
      {
        path: config().get<string>("path"),
        interpreter: config().get<string>("interpreter"),
      },
      process.env,
      folder,
    );
  } catch (error) {
    if (error instanceof ServerNotFound) {
      void reportNotFound(error);
      return;
    }
    throw error;
  }
  output.info(`starting ${resolved.command} ${resolved.args.join(" ")} (from ${resolved.source})`);
  const serverOptions: ServerOptions = {
    command: resolved.command,
    args: resolved.args,
    transport: TransportKind.stdio,
    options: { cwd: folder, env: process.env },
  };
  const next = new LanguageClient(CONFIG_SECTION, NAME, serverOptions, clientOptions());
  client = next;
  try {
    await next.start();
  } catch (error) {
    output.error(`the language server did not start: ${String(error)}`);
    const choice = await vscode.window.showErrorMessage(
      `Durable Harden: the language server (${resolved.command}) did not start: ${String(error)}. ` +
        `Is durable-harden installed (\`${INSTALL_HINT}\`)?`,
      "Show Output",
    );
    if (choice === "Show Output") output.show(true);
  }
}

async function stop(): Promise<void> {
  const current = client;
  client = undefined;
  if (current === undefined) return;
  try {
    if (current.state !== State.Stopped) await current.stop();
  } catch (error) {
    output.warn(`stopping the server: ${String(error)}`);
  }
  await current.dispose().catch(() => undefined);
}

async function restart(): Promise<void> {
  if (starting !== undefined) await starting;
  starting = (async () => {
    await stop();
    await start();
  })();
  try {
    await starting;
  } finally {
    starting = undefined;
  }
}

/** The workspace folder to harden: the active editor's, the only one, or the user's pick. */
async function targetFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  const owner = active ? vscode.workspace.getWorkspaceFolder(active) : undefined;
  if (owner) return owner;
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder: "Folder to harden" });
}

async function hardenAll(): Promise<void> {
  if (starting !== undefined) await starting;
  const current = client;
  if (current === undefined || current.state !== State.Running) {
    const choice = await vscode.window.showErrorMessage(
      "Durable Harden: the language server is not running.",
      "Restart server",
      "Show Output",
    );
    if (choice === "Restart server") await restart();
    if (choice === "Show Output") output.show(true);
    return;
  }
  const offered = current.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  if (!offered.includes(SERVER_COMMANDS.hardenAll)) {
    void vscode.window.showWarningMessage(
      `Durable Harden: this server does not offer "${SERVER_COMMANDS.hardenAll}". ` +
        "Update it (`pip install -U durable-harden`), or run `durable-harden harden` in a terminal.",
    );
    return;
  }
  const folder = await targetFolder();
  if (folder === undefined && (vscode.workspace.workspaceFolders ?? []).length > 0) return;
  // Arguments: [{ uri?: folder, unsafe?: boolean }] (server/lsp_harden.py). Unsafe fixes are
  // included by default and arrive as change annotations that need confirmation, so VS Code
  // opens its refactor preview for them. The server reports progress, shows the summary and
  // opens durable-harden-report.md itself; the notification here only offers Cancel.
  const args = folder ? [{ uri: current.code2ProtocolConverter.asUri(folder.uri) }] : [];
  const result = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: "Durable Harden: hardening all Durable Objects",
      cancellable: true,
    },
    (_progress, token) =>
      current.sendRequest(
        ExecuteCommandRequest.type,
        { command: SERVER_COMMANDS.hardenAll, arguments: args },
        token,
      ),
  );
  const summary = (result as { summary?: unknown } | null)?.summary;
  if (typeof summary === "string") output.info(`harden all: ${summary}`);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel(NAME, { log: true });
  traceOutput = vscode.window.createOutputChannel(`${NAME} Trace`, { log: true });
  context.subscriptions.push(
    output,
    traceOutput,
    vscode.commands.registerCommand(COMMANDS.restart, restart),
    vscode.commands.registerCommand(COMMANDS.showOutput, () => output.show(true)),
    vscode.commands.registerCommand(COMMANDS.hardenAll, async () => {
      try {
        await hardenAll();
      } catch (error) {
        output.error(`harden all failed: ${String(error)}`);
        void vscode.window.showErrorMessage(`Durable Harden: harden all failed: ${String(error)}`);
      }
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (needsRestart((key) => event.affectsConfiguration(key))) {
        output.info("server path or interpreter changed: restarting");
        await restart();
      } else if (event.affectsConfiguration(CONFIG_SECTION) && client?.state === State.Running) {
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { [SERVER_SECTION]: settingsFor() },
        });
      }
    }),
    { dispose: () => void stop() },
  );
  starting = start();
  try {
    await starting;
  } finally {
    starting = undefined;
  }
}

export function deactivate(): Promise<void> {
  return stop();
}
