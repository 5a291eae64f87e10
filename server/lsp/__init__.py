"""The durable-harden language server (pygls 2.x), one module per feature.

- core.py: the server (state, settings, scheduling of analyses, lifecycle handlers)
- transport.py: JSON-RPC over stdio with bounded messages and InvalidParams replies
- engine.py: analyses and caches (no pygls)
- convert.py: ranges, diagnostics, the one WorkspaceEdit builder, client capabilities
- workspace.py: settings, watched files, indexing
- documents.py, diagnostics.py, code_actions.py, hover.py, harden.py (+ harden_edit.py): features

Every feature is registered here, in `FEATURES`, and nowhere else.
"""

from __future__ import annotations

import logging

from durable_harden.server.lsp import (
    code_actions,
    core,
    diagnostics,
    documents,
    harden,
    hover,
    workspace,
)
from durable_harden.server.lsp.code_actions import FIX_ALL_KIND
from durable_harden.server.lsp.core import (
    DEFAULT_DEBOUNCE_MS,
    EDITOR_ONLY,
    PYGLS_RPC_LOGGER,
    VERSION,
    DurableHardenServer,
    FinishedCancelFilter,
    quiet_pygls_logs,
)

FEATURES = (core, workspace, documents, diagnostics, code_actions, hover, harden)


def create_server() -> DurableHardenServer:
    server = DurableHardenServer()
    for feature in FEATURES:
        feature.register(server)
    return server


server = create_server()


def start(tcp: str | None = None) -> int:
    """Serve on stdio (or TCP). Exit code 0 after `shutdown`, 1 when the client exited (or went
    away) without asking for it, as the protocol says for `exit`."""
    logging.basicConfig(level=logging.WARNING)
    server.collector.install()  # collections when idle, not during keystrokes
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_stdio()
    return 0 if server.protocol._shutdown else 1


__all__ = [
    "DEFAULT_DEBOUNCE_MS",
    "EDITOR_ONLY",
    "FEATURES",
    "FIX_ALL_KIND",
    "PYGLS_RPC_LOGGER",
    "VERSION",
    "DurableHardenServer",
    "FinishedCancelFilter",
    "create_server",
    "quiet_pygls_logs",
    "server",
    "start",
]
