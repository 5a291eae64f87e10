-- durable-harden language server for Neovim 0.11+ (`vim.lsp.config` / `vim.lsp.enable`).
--
-- Put this file on 'runtimepath' as lsp/durable-harden.lua (for example
-- ~/.config/nvim/lsp/durable-harden.lua), then in init.lua:
--
--   vim.lsp.enable("durable-harden")
--
-- Requires `durable-harden` on PATH (pip install durable-harden), or override the command:
--   vim.lsp.config("durable-harden", { cmd = { "/path/to/venv/bin/durable-harden", "serve" } })
-- For Neovim 0.7-0.10 see docs/editors.md (vim.lsp.start_client with the same table).
-- Tested headless by tests/lsp/test_neovim_011.py (editors/neovim/test/lsp_config.lua).
---@type vim.lsp.Config
return {
  cmd = { "durable-harden", "serve" },
  -- TypeScript/JavaScript sources, and wrangler configs (the server ignores other JSON/TOML)
  filetypes = {
    "typescript",
    "typescriptreact",
    "javascript",
    "javascriptreact",
    "json",
    "jsonc",
    "toml",
  },
  root_markers = {
    "wrangler.jsonc",
    "wrangler.json",
    "wrangler.toml",
    "durable-harden.jsonc",
    "package.json",
    ".git",
  },
  -- editor settings; a durable-harden.jsonc next to the code wins over them
  init_options = {
    debounceMs = 100,
    -- select = { "ALL" }, ignore = {}, severity = {}, unsafeFixes = false,
  },
  settings = {
    ["durable-harden"] = {},
  },
}
