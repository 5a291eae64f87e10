"""Pure analysis of Durable Object projects: sources -> project model -> findings.

Nothing here imports an LSP library; positions are UTF-8 byte offsets.
"""
