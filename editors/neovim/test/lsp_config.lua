-- Headless end-to-end check of editors/neovim/lsp/durable-harden.lua in real Neovim 0.11+:
--   DH_RTP=/abs/editors/neovim DH_FILE=/abs/path/src/chat-room.ts \
--     nvim --headless -u NONE -l editors/neovim/test/lsp_config.lua
-- The config is found on 'runtimepath' and enabled with vim.lsp.enable("durable-harden"), as a
-- user's init.lua would; its cmd (`durable-harden serve`) is resolved from PATH. Checks the
-- resolved config and root, the diagnostics, the quick fixes offered at the timer finding, and
-- fix-all applied through vim.lsp.buf.code_action. Prints "OK" and exits 0; exits 1 on failure.
local file = assert(os.getenv("DH_FILE"), "DH_FILE")
local rtp = assert(os.getenv("DH_RTP"), "DH_RTP")
local root = vim.fs.dirname(vim.fs.dirname(file)) -- the folder holding wrangler.jsonc

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  os.exit(1)
end

local function check(ok, msg)
  if not ok then
    fail(msg)
  end
end

-- what a user's setup has and `-u NONE` turns off: filetype detection (FileType starts the client)
vim.cmd("filetype on")
vim.opt.runtimepath:prepend(rtp)
check(vim.lsp.config and vim.lsp.enable, "this Neovim has no vim.lsp.config / vim.lsp.enable")

-- the lsp/durable-harden.lua on 'runtimepath' is what vim.lsp.config resolves
local config = vim.lsp.config["durable-harden"]
check(config ~= nil, "lsp/durable-harden.lua not found on runtimepath")
-- cmd is a function starting `durable-harden serve` (so that the root_dir guard can say when it
-- is missing); the PATH lookup is checked by the client attaching below
check(type(config.cmd) == "function", "cmd is " .. vim.inspect(config.cmd))
check(vim.tbl_contains(config.filetypes, "typescript"), "typescript not in filetypes")
check(vim.tbl_contains(config.filetypes, "jsonc"), "jsonc not in filetypes")
-- faster reanalysis for the test, merged over the file's settings the way users override them
vim.lsp.config("durable-harden", { init_options = { debounceMs = 20 } })
vim.lsp.enable("durable-harden")

vim.cmd.edit(vim.fn.fnameescape(file))
local bufnr = vim.api.nvim_get_current_buf()
check(vim.bo[bufnr].filetype == "typescript", "filetype is " .. vim.bo[bufnr].filetype)

local client
check(
  vim.wait(10000, function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = "durable-harden" })[1]
    return client ~= nil and client.initialized
  end, 20),
  "durable-harden did not attach to the buffer (is `durable-harden` on PATH?)"
)
check(client.root_dir == root, "root_dir " .. tostring(client.root_dir) .. " is not " .. root)
check(client.config.init_options.debounceMs == 20, "vim.lsp.config override not merged")
print("root " .. client.root_dir)

local function find(code, lnum)
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.code == code and d.lnum + 1 == lnum then
      return d
    end
  end
end

local timer, accept
check(
  vim.wait(15000, function()
    timer = find("timer-blocks-hibernation", 147)
    accept = find("websocket-not-hibernatable", 67)
    return timer ~= nil and accept ~= nil
  end, 20),
  "missing diagnostics; got " .. vim.inspect(vim.tbl_map(function(d)
    return { d.code, d.lnum + 1 }
  end, vim.diagnostic.get(bufnr)))
)
for _, d in ipairs({ timer, accept }) do
  check(d.source == "durable-harden", d.code .. " source is " .. tostring(d.source))
  print(string.format("diagnostic %s at %d:%d", d.code, d.lnum + 1, d.col + 1))
end
check(timer.col == 25 and accept.col == 4, "columns " .. timer.col .. ", " .. accept.col)

-- quick fixes at the timer finding: the whole LSP diagnostic is in user_data.lsp (0.11)
local lsp_diag = timer.user_data and timer.user_data.lsp
check(lsp_diag ~= nil and lsp_diag.range ~= nil, "no LSP diagnostic in user_data.lsp")
local results = vim.lsp.buf_request_sync(bufnr, "textDocument/codeAction", {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  range = lsp_diag.range,
  context = { diagnostics = { lsp_diag }, only = { "quickfix" } },
}, 10000)
local titles = {}
for _, response in pairs(results or {}) do
  check(response.err == nil, "codeAction error " .. vim.inspect(response.err))
  for _, action in ipairs(response.result or {}) do
    table.insert(titles, action.title)
  end
end
check(
  vim.tbl_contains(titles, "Disable timer-blocks-hibernation for this line"),
  "quick fixes " .. vim.inspect(titles)
)
print("quick fixes: " .. #titles)

-- fix-all: in chat-room.ts the one safe fix is sql-missing-index, whose edit adds the index
-- to schema.ts; Neovim loads schema.ts into a buffer and edits it there
local before = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
check(find("sql-missing-index", 118) ~= nil, "no sql-missing-index diagnostic at line 118")
vim.lsp.buf.code_action({ context = { only = { "source.fixAll.durable-harden" } }, apply = true })
local schema = vim.fs.joinpath(vim.fs.dirname(file), "schema.ts")
local schema_buf
local function schema_text()
  schema_buf = vim.fn.bufnr(schema)
  if schema_buf == -1 or not vim.api.nvim_buf_is_loaded(schema_buf) then
    return ""
  end
  return table.concat(vim.api.nvim_buf_get_lines(schema_buf, 0, -1, false), "\n")
end
check(
  vim.wait(10000, function()
    return schema_text():find("ON messages%s*%(room, created_at%)") ~= nil
  end, 20),
  "fix-all did not add the (room, created_at) index to schema.ts:\n" .. schema_text()
)
check(
  table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n") == before,
  "fix-all changed chat-room.ts"
)
check(vim.bo[schema_buf].modified, "schema.ts buffer not marked modified")
-- the edited schema.ts buffer is a TypeScript buffer in the same root: the client attaches to it
check(#vim.lsp.get_clients({ bufnr = schema_buf, name = "durable-harden" }) == 1, "not attached to schema.ts")
-- Neovim pulls diagnostics per buffer on that buffer's own changes; the server's
-- workspace/diagnostic/refresh after the schema.ts edit makes it pull chat-room.ts again
-- without touching that buffer
check(
  vim.wait(10000, function()
    return find("sql-missing-index", 118) == nil
  end, 20),
  "sql-missing-index still reported after fix-all added the index to the unsaved schema.ts"
)
check(find("timer-blocks-hibernation", 147) ~= nil, "timer finding gone after fix-all")
print("fix-all added the index")

print("OK")
client:stop()
vim.wait(2000, function()
  return client:is_stopped()
end, 20)
os.exit(0)
