"""The workspace: editor settings (`workspace/configuration`, didChangeConfiguration), file
watchers (didChangeWatchedFiles: settings files, wrangler configs, files that appear or vanish),
and indexing the workspace folders once initialized (with progress).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from durable_harden.analyzers.settings_file import PACKAGE_JSON, SETTINGS_FILE, forget
from durable_harden.analyzers.wrangler import is_config_name
from durable_harden.server.lsp.core import guard

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer

SOURCE_GLOB = "**/*.{ts,tsx,mts,cts,js,jsx,mjs,cjs}"
CONFIG_GLOB = "**/{wrangler.toml,wrangler.json,wrangler.jsonc}"
SETTINGS_GLOB = "**/{durable-harden.jsonc,package.json}"


@guard
async def on_initialized(ls: DurableHardenServer, params: lsp.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop()
    try:
        values = await ls.read_editor_settings()
        if isinstance(values, dict) and values:
            ls.set_editor_settings(values)
        await ls.read_folder_settings()
    except Exception as exc:
        ls.log(f"workspace/configuration failed: {exc}", lsp.MessageType.Warning)
    if ls.caps.watch_registration:
        watchers = [
            lsp.FileSystemWatcher(glob_pattern=g) for g in (SOURCE_GLOB, CONFIG_GLOB, SETTINGS_GLOB)
        ]
        try:
            await ls.client_register_capability_async(
                lsp.RegistrationParams(
                    registrations=[
                        lsp.Registration(
                            id="durable-harden-watch",
                            method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=lsp.DidChangeWatchedFilesRegistrationOptions(
                                watchers=watchers
                            ),
                        )
                    ]
                )
            )
        except Exception as exc:
            ls.log(f"could not register file watchers: {exc}", lsp.MessageType.Warning)
        else:
            # the client tells us what changes on disk: the engine stats only what it names
            # (and everything every engine.DISK_RECHECK_S seconds)
            ls.engine.watched = True
    await index_workspace(ls)


async def index_workspace(ls: DurableHardenServer) -> None:
    paths = ls.folders()
    if not paths:
        return
    token: str | None = None
    if ls.caps.work_done_progress:
        token = "durable-harden-index"
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(
                token,
                lsp.WorkDoneProgressBegin(title="durable-harden: indexing", percentage=0),
            )
        except Exception:
            token = None
    loop = asyncio.get_running_loop()
    total = 0
    for number, folder in enumerate(paths):
        if token is not None:
            ls.work_done_progress.report(
                token,
                lsp.WorkDoneProgressReport(
                    message=str(folder.name), percentage=int(100 * number / len(paths))
                ),
            )
        total += await loop.run_in_executor(ls.executor, ls.engine.index, folder, None)
    if token is not None:
        ls.work_done_progress.end(
            token, lsp.WorkDoneProgressEnd(message=f"{total} source files indexed")
        )


@guard
def did_change_watched_files(
    ls: DurableHardenServer, params: lsp.DidChangeWatchedFilesParams
) -> None:
    layout = False
    changed: list[Path] = []
    for change in params.changes:
        path_str = to_fs_path(change.uri)
        if path_str is None:
            continue
        path = Path(path_str)
        changed.append(path)
        if path.name in (SETTINGS_FILE, PACKAGE_JSON):
            forget(path.resolve())
            forget(path)
            ls.settings_lookup.forget()
        if is_config_name(path.name) or change.type != lsp.FileChangeType.Changed:
            layout = True
    # on the analysis thread, in order with the analyses (the engine's caches live there)
    ls.executor.submit(ls.engine.disk_changed, changed)
    if layout:
        ls.executor.submit(ls.engine.forget_layout)
    ls.relint_all()


@guard
async def did_change_configuration(
    ls: DurableHardenServer, params: lsp.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    with contextlib.suppress(Exception):
        asked = await ls.read_editor_settings()
        if ls.caps.configuration:
            settings = asked if asked is not None else settings
    ls.set_editor_settings(settings or {})
    try:
        await ls.read_folder_settings()
    except Exception as exc:
        ls.log(f"workspace/configuration failed: {exc}", lsp.MessageType.Warning)
    ls.relint_all()


def register(server: DurableHardenServer) -> None:
    server.feature(lsp.INITIALIZED)(on_initialized)
    server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)(did_change_watched_files)
    server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)


__all__ = ["register"]
