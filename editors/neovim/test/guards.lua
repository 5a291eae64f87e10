-- Headless check of when the durable-harden client starts, in real Neovim, for both set-ups:
--   DH_MODE=config  (0.11+): lsp/durable-harden.lua + vim.lsp.enable("durable-harden")
--   DH_MODE=legacy  (0.7-0.10): require("durable_harden_legacy").setup()
-- DH_RTP=/abs/editors/neovim, DH_PROJECT=/abs/worker (holds wrangler.jsonc, src/chat-room.ts,
-- src/schema.ts, package.json), DH_STRAY=/abs/folder (a.ts and pyproject.toml, no wrangler config),
-- DH_MISSING=1: `durable-harden` is not on PATH.
--   nvim --headless -u NONE -c 'luafile editors/neovim/test/guards.lua'
-- Prints what it saw and "OK"; exits 1 on failure.
local mode = assert(os.getenv("DH_MODE"), "DH_MODE")
local rtp = assert(os.getenv("DH_RTP"), "DH_RTP")
local project = assert(os.getenv("DH_PROJECT"), "DH_PROJECT")
local stray = os.getenv("DH_STRAY")
local missing = os.getenv("DH_MISSING") == "1"

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  os.exit(1)
end

local function check(ok, msg)
  if not ok then
    fail(msg)
  end
end

local notes = {}
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(notes, msg)
  return notify(msg, level, opts)
end

vim.cmd("filetype on")
vim.opt.runtimepath:prepend(rtp)
if mode == "config" then
  check(vim.lsp.config ~= nil, "this Neovim has no vim.lsp.config")
  vim.lsp.config("durable-harden", { init_options = { debounceMs = 20 } })
  vim.lsp.enable("durable-harden")
else
  require("durable_harden_legacy").setup({ init_options = { debounceMs = 20 } })
end

local function ours(list)
  local out = {}
  for _, c in pairs(list) do
    if c.name == "durable-harden" then
      table.insert(out, c)
    end
  end
  return out
end

local function clients_of(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr, name = "durable-harden" })
  end
  return ours(vim.lsp.buf_get_clients(bufnr))
end

local function all_clients()
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ name = "durable-harden" })
  end
  return ours(vim.lsp.get_active_clients())
end

local function open(path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf()
end

if missing then
  local a = open(project .. "/src/chat-room.ts")
  local b = open(project .. "/src/schema.ts")
  vim.wait(500, function()
    return false
  end, 50)
  check(#all_clients() == 0, "a client started without an executable")
  local warnings = {}
  for _, note in ipairs(notes) do
    if note:find("not an executable on PATH", 1, true) then
      table.insert(warnings, note)
    end
  end
  check(#warnings == 1, #warnings .. " warnings: " .. vim.inspect(notes))
  check(warnings[1]:find("pip install .", 1, true) ~= nil, "no install hint: " .. warnings[1])
  check(warnings[1]:find("pip install durable-harden", 1, true) == nil, "names a PyPI package")
  print("warned once for " .. a .. "," .. b .. ": " .. warnings[1])
  print("OK")
  os.exit(0)
end

-- outside a Worker project: nothing starts
if stray then
  local ts = open(stray .. "/a.ts")
  check(vim.bo[ts].filetype == "typescript", "a.ts filetype " .. vim.bo[ts].filetype)
  local toml = open(stray .. "/pyproject.toml")
  vim.wait(1000, function()
    return #all_clients() > 0
  end, 50)
  check(#all_clients() == 0, "a client started outside a Worker project")
  print("stray a.ts and pyproject.toml: no client")
  check(toml ~= ts, "same buffer")
end

-- inside: one client for all buffers of the root
local main = open(project .. "/src/chat-room.ts")
local schema = open(project .. "/src/schema.ts")
local pkg = open(project .. "/package.json")
check(
  vim.wait(10000, function()
    return #clients_of(main) == 1 and #clients_of(schema) == 1
  end, 20),
  "not attached to both buffers"
)
local client = clients_of(main)[1]
check(clients_of(schema)[1].id == client.id, "schema.ts has another client")
check(#all_clients() == 1, #all_clients() .. " clients for one root")
check(client.config.root_dir == project, "root " .. tostring(client.config.root_dir))
check(#clients_of(pkg) == 0, "attached to package.json")
print("one client for 2 buffers, root " .. client.config.root_dir)
-- Neovim 0.11+ pulls a buffer's diagnostics on its attach and its own edits; the attach came
-- before the server finished starting here, so edit chat-room.ts (an appended empty line)
vim.cmd("buffer " .. main)
vim.api.nvim_buf_set_lines(main, -1, -1, false, { "" })
check(
  vim.wait(15000, function()
    for _, d in ipairs(vim.diagnostic.get(main)) do
      if d.code == "timer-blocks-hibernation" then
        return true
      end
    end
    return false
  end, 20),
  "no diagnostics in chat-room.ts"
)
print("diagnostics arrived")
if vim.lsp.get_clients then
  client:stop()
else
  client.stop()
end
print("OK")
vim.wait(2000, function()
  return #all_clients() == 0
end, 20)
os.exit(0)
