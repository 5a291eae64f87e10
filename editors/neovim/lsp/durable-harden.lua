-- durable-harden language server for Neovim 0.11+ (`vim.lsp.config` / `vim.lsp.enable`).
--
-- Put this file on 'runtimepath' as lsp/durable-harden.lua (for example
-- ~/.config/nvim/lsp/durable-harden.lua), then in init.lua:
--
--   vim.lsp.enable("durable-harden")
--
-- Requires `durable-harden` on PATH. There is no durable-harden package on PyPI: install it from
-- a checkout of the repository (`python3 -m pip install .`, or into a virtual environment), or
-- point the command at it:
--   vim.lsp.config("durable-harden", { cmd = { "/path/to/venv/bin/durable-harden", "serve" } })
-- When `durable-harden` is not on PATH, a message says so once (Neovim itself only writes to its
-- lsp.log that the command is not executable): `cmd` is a function here so that Neovim lets the
-- root_dir guard below run and tell the user. A `cmd` table set with vim.lsp.config replaces it.
-- The server starts only inside a Worker project: a buffer whose folder or a parent holds a
-- wrangler config (or durable-harden.jsonc); a stray a.ts or an unrelated pyproject.toml starts
-- nothing. For Neovim 0.7-0.10 see lua/durable_harden_legacy.lua and docs/editors.md.
-- Tested headless by tests/lsp/test_neovim_011.py and tests/editors/test_neovim_guards.py.

-- tried in this order, each all the way up: a wrangler config beats a nearer durable-harden.jsonc
local markers = { "wrangler.jsonc", "wrangler.json", "wrangler.toml", "durable-harden.jsonc" }
-- JSON/TOML buffers are only ever the configs: package.json or pyproject.toml are left alone
local configs = {
  ["wrangler.jsonc"] = true,
  ["wrangler.json"] = true,
  ["wrangler.toml"] = true,
  ["durable-harden.jsonc"] = true,
}
local command = { "durable-harden", "serve" }
local code = {
  typescript = true,
  typescriptreact = true,
  javascript = true,
  javascriptreact = true,
}

---@type vim.lsp.Config
return {
  cmd = function(dispatchers, config)
    local extra = config and { cwd = config.cmd_cwd, env = config.cmd_env } or nil
    return vim.lsp.rpc.start(command, dispatchers, extra)
  end,
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
  root_markers = markers,
  -- the guard: a root only inside a Worker project, and only with an executable server
  root_dir = function(bufnr, on_dir)
    local name = vim.api.nvim_buf_get_name(bufnr)
    if not code[vim.bo[bufnr].filetype] and not configs[vim.fs.basename(name)] then
      return
    end
    local root
    for _, marker in ipairs(markers) do
      root = vim.fs.root(bufnr, marker)
      if root then
        break
      end
    end
    if not root then
      return -- not a Worker project: no rootless server
    end
    local cmd = (vim.lsp.config["durable-harden"] or {}).cmd
    if type(cmd) == "function" and vim.fn.executable(command[1]) ~= 1 then
      vim.notify_once(
        ("durable-harden: `%s` is not an executable on PATH, so the language server is not "
          .. "started. Install it from a checkout of the durable-harden repository "
          .. "(python3 -m pip install .) or set its path: "
          .. 'vim.lsp.config("durable-harden", { cmd = { "/path/to/durable-harden", "serve" } })'):format(
          command[1]
        ),
        vim.log.levels.WARN
      )
      return
    end
    on_dir(root)
  end,
  -- editor settings; a durable-harden.jsonc next to the code wins over them
  init_options = {
    debounceMs = 100,
    -- select = { "ALL" }, ignore = {}, severity = {}, unsafeFixes = false,
  },
  settings = {
    ["durable-harden"] = {},
  },
}
