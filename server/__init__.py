"""Front ends: the command-line interface and the language server.

The CLI must start without importing pygls or lsprotocol; only server.lsp imports them.
"""
