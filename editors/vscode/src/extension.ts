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
  type vsdiag,
} from "vscode-languageclient/node";

import { INSTALL_HINT, resolveServerCommand, ServerNotFound } from "./resolve";
import {
  CONFIG_SECTION,
  DOCS_BASE_URL_ENV,
  needsRestart,
  SERVER_SECTION,
  serverSettings,
} from "./settings";

// read by tests/editors/test_vscode_extension.py from the bundle, to compare with the server
export { CLIENT_KEYS, CONFIG_SECTION, SERVER_KEYS, SERVER_SECTION } from "./settings";
// called by the tests from the packaged bundle: the command the extension really starts
export { INSTALL_HINT, resolveServerCommand } from "./resolve";

/** Workspace commands and code action kinds of the server (server/lsp/core.py). */
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

/** A pull-diagnostics answer with nothing in it (documents of disabled folders). */
const NO_DIAGNOSTICS = { kind: "full", items: [] } as unknown as vsdiag.DocumentDiagnosticReport;

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let traceOutput: vscode.LogOutputChannel;
let starting: Promise<void> | undefined;
let status: vscode.LanguageStatusItem | undefined;
let extensionPath = "";
let serverState = "not started";

/** Shown by the language status item: server state, version, findings; click opens the log. */
function updateStatus(): void {
  if (status === undefined) return;
  const version = client?.initializeResult?.serverInfo?.version;
  let findings = 0;
  for (const [, diagnostics] of vscode.languages.getDiagnostics()) {
    findings += diagnostics.filter((d) => d.source === "durable-harden").length;
  }
  status.text = version ? `Durable Harden ${version}` : "Durable Harden";
  status.detail = `${serverState}; ${findings} finding${findings === 1 ? "" : "s"}`;
  status.severity = ["running", "disabled", "starting"].includes(serverState)
    ? vscode.LanguageStatusSeverity.Information
    : vscode.LanguageStatusSeverity.Error;
  status.busy = serverState === "starting";
}

function setState(state: string): void {
  serverState = state;
  updateStatus();
}

/** `durableHarden.enable` for a document's folder (resource scope). */
function enabledFor(uri: vscode.Uri): boolean {
  return config(uri).get<boolean>("enable", true);
}

function anyEnabled(): boolean {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) return config().get<boolean>("enable", true);
  return folders.some((folder) => enabledFor(folder.uri));
}

/** The Python the Python extension selected (its `environments` API), if it is installed. */
async function pythonFromExtension(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension("ms-python.python");
  if (ext === undefined) return undefined;
  try {
    const api = (ext.isActive ? ext.exports : await ext.activate()) as PythonApi | undefined;
    const environments = api?.environments;
    if (environments === undefined) return undefined;
    const scope = vscode.workspace.workspaceFolders?.[0]?.uri;
    const active = environments.getActiveEnvironmentPath(scope);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable?.uri?.fsPath ?? undefined;
  } catch (error) {
    output.warn(`the Python extension did not give an interpreter: ${String(error)}`);
    return undefined;
  }
}

/** The part of ms-python.python's exported API used here (its `environments` namespace). */
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
    resolveEnvironment(
      env: { id: string; path: string } | string,
    ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

function config(scope?: vscode.Uri): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
}

function settingsFor(scope?: vscode.Uri): Record<string, unknown> {
  const cfg = config(scope);
  return serverSettings((key) => cfg.get(key));
}

async function reportNotFound(error: ServerNotFound): Promise<void> {
  output.error(`${error.message} (tried: ${error.tried.join("; ")})`);
  const choice = await vscode.window.showErrorMessage(
    error.message,
    "Open Settings",
    "Show Output",
  );
  if (choice === "Open Settings") {
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
    // documents of folders with durableHarden.enable = false never reach the server, and
    // nothing the server says about them is shown
    middleware: {
      didOpen: (document, next) => (enabledFor(document.uri) ? next(document) : Promise.resolve()),
      didChange: (event, next) =>
        enabledFor(event.document.uri) ? next(event) : Promise.resolve(),
      didSave: (document, next) => (enabledFor(document.uri) ? next(document) : Promise.resolve()),
      didClose: (document, next) =>
        enabledFor(document.uri) ? next(document) : Promise.resolve(),
      handleDiagnostics: (uri, diagnostics, next) => next(uri, enabledFor(uri) ? diagnostics : []),
      provideDiagnostics: (document, previousResultId, token, next) => {
        const uri = document instanceof vscode.Uri ? document : document.uri;
        return enabledFor(uri) ? next(document, previousResultId, token) : NO_DIAGNOSTICS;
      },
      provideCodeActions: (document, range, context, token, next) =>
        enabledFor(document.uri) ? next(document, range, context, token) : [],
      provideHover: (document, position, token, next) =>
        enabledFor(document.uri) ? next(document, position, token) : undefined,
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
  if (!anyEnabled()) {
    output.info("durableHarden.enable is off: the server is not started");
    setState("disabled");
    return;
  }
  setState("starting");
  const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  let resolved;
  try {
    resolved = resolveServerCommand(
      {
        path: config().get<string>("path"),
        interpreter: config().get<string>("interpreter"),
        importStrategy: config().get<string>("importStrategy"),
      },
      process.env,
      {
        extensionPath,
        pythonFromExtension: config().get<string>("interpreter")
          ? undefined
          : await pythonFromExtension(),
        workspaceFolders: folders,
        trusted: vscode.workspace.isTrusted,
      },
    );
  } catch (error) {
    if (error instanceof ServerNotFound) {
      setState("not found");
      void reportNotFound(error);
      return;
    }
    throw error;
  }
  output.info(
    `starting ${resolved.command} ${resolved.args.join(" ")} (from ${resolved.source}` +
      `${resolved.importStrategy ? `, ${resolved.importStrategy}` : ""}; cwd ${resolved.cwd})`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env };
  const docsBaseUrl = (config().get<string>("docsBaseUrl") ?? "").trim();
  if (docsBaseUrl) env[DOCS_BASE_URL_ENV] = docsBaseUrl;
  const serverOptions: ServerOptions = {
    command: resolved.command,
    args: resolved.args,
    transport: TransportKind.stdio,
    // the extension's folder, never the workspace: nothing there is importable by the server
    options: { cwd: resolved.cwd, env },
  };
  const next = new LanguageClient(CONFIG_SECTION, NAME, serverOptions, clientOptions());
  client = next;
  next.onDidChangeState((event) => {
    if (client !== next) return;
    if (event.newState === State.Running) setState("running");
    else if (event.newState === State.Stopped) setState("stopped");
    else setState("starting");
  });
  try {
    await next.start();
    setState("running");
    const info = next.initializeResult?.serverInfo;
    output.info(`server ${info?.name ?? "?"} ${info?.version ?? "?"} running`);
  } catch (error) {
    setState("failed");
    output.error(`the language server did not start: ${String(error)}`);
    const choice = await vscode.window.showErrorMessage(
      `Durable Harden: the language server (${resolved.command}) did not start: ${String(error)}. ` +
        `The output channel says why. ${INSTALL_HINT}`,
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
        "Update the extension (or the durable-harden of durableHarden.path), or run " +
        "`durable-harden harden` in a terminal.",
    );
    return;
  }
  const folder = await targetFolder();
  if (folder === undefined && (vscode.workspace.workspaceFolders ?? []).length > 0) return;
  // Arguments: [{ uri?: folder, unsafe?: boolean }] (server/lsp/harden.py). Unsafe fixes are
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
  extensionPath = context.extensionPath;
  output = vscode.window.createOutputChannel(NAME, { log: true });
  traceOutput = vscode.window.createOutputChannel(`${NAME} Trace`, { log: true });
  status = vscode.languages.createLanguageStatusItem("durableHarden.status", DOCUMENT_SELECTOR);
  status.name = NAME;
  status.command = { title: "Show output", command: COMMANDS.showOutput };
  updateStatus();
  const python = vscode.extensions.getExtension("ms-python.python");
  if (python !== undefined) {
    // a new interpreter selected in the Python extension: start the server with it
    void Promise.resolve(python.isActive ? python.exports : python.activate())
      .then((api: PythonApi | undefined) => {
        const event = api?.environments?.onDidChangeActiveEnvironmentPath;
        if (event === undefined) return;
        context.subscriptions.push(
          event(async () => {
            if (config().get<string>("interpreter") || config().get<string>("path")) return;
            output.info("the Python extension selected another interpreter: restarting");
            await restart();
          }),
        );
      })
      .catch(() => undefined);
  }
  context.subscriptions.push(
    status,
    vscode.languages.onDidChangeDiagnostics(() => updateStatus()),
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
        output.info("server path, interpreter, import strategy or enable changed: restarting");
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
