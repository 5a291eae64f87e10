-- durable-harden language server for Neovim 0.7-0.10 (no `vim.lsp.config`; on 0.11+ use
-- lsp/durable-harden.lua instead).
--
-- Put this file on 'runtimepath' as lua/durable_harden_legacy.lua (for example
-- ~/.config/nvim/lua/durable_harden_legacy.lua), then in init.lua:
--
--   require("durable_harden_legacy").setup()
--   -- or: setup({ cmd = { "/path/to/venv/bin/durable-harden", "serve" }, init_options = { ... } })
--
-- ONE server per Worker project: every TypeScript/JavaScript buffer and wrangler config under
-- the same root (the nearest folder holding a wrangler config, tried in the order of `markers`)
-- attaches to the same client. Outside a Worker project nothing starts. When the command is not
-- executable, a message says so once. Tested in real Neovim 0.7.2 by
-- tests/editors/test_neovim_guards.py.
local M = {}

M.markers = { "wrangler.jsonc", "wrangler.json", "wrangler.toml", "durable-harden.jsonc" }
local configs = {
  ["wrangler.jsonc"] = true,
  ["wrangler.json"] = true,
  ["wrangler.toml"] = true,
  ["durable-harden.jsonc"] = true,
}
local code = {
  typescript = true,
  typescriptreact = true,
  javascript = true,
  javascriptreact = true,
}

-- root folder -> client id
M.clients = {}
local warned = false

--- The Worker project root of a file: the folder of the first marker found upward, or nil.
function M.root(path)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  for _, marker in ipairs(M.markers) do
    local found = vim.fn.findfile(marker, dir .. ";")
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h")
    end
  end
  return nil
end

function M.attach(bufnr, opts)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then
    return
  end
  if not code[vim.bo[bufnr].filetype] and not configs[vim.fn.fnamemodify(name, ":t")] then
    return
  end
  local root = M.root(name)
  if not root then
    return -- not a Worker project: no rootless server
  end
  local cmd = opts.cmd or { "durable-harden", "serve" }
  if vim.fn.executable(cmd[1]) ~= 1 then
    if not warned then
      warned = true
      vim.notify(
        ("durable-harden: `%s` is not an executable on PATH, so the language server is not "
          .. "started. Install it from a checkout of the durable-harden repository "
          .. "(python3 -m pip install .) or pass its path: "
          .. 'require("durable_harden_legacy").setup({ cmd = { "/path/to/durable-harden", "serve" } })'):format(
          cmd[1]
        ),
        vim.log.levels.WARN
      )
    end
    return
  end
  local id = M.clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client({
      name = "durable-harden",
      cmd = cmd,
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
      init_options = opts.init_options or { debounceMs = 100 },
      settings = { ["durable-harden"] = opts.settings or {} },
    })
    if not id then
      return
    end
    M.clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

function M.setup(opts)
  opts = opts or {}
  local group = vim.api.nvim_create_augroup("durable_harden", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = { "typescript", "typescriptreact", "javascript", "javascriptreact", "json", "jsonc", "toml" },
    callback = function(args)
      M.attach(args.buf, opts)
    end,
  })
end

return M
