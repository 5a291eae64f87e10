-- Headless "harden all" in real Neovim, 0.7 and 0.11+ (tests/lsp/test_neovim_harden.py):
--   DH_RTP=/abs/editors/neovim DH_FILE=/abs/project/src/chat-room.ts nvim --headless -u NONE -l harden.lua
-- Runs durable-harden.hardenAll (unsafe fixes asked for) through the client, then prints, for
-- the test to check: the server's summary message, every loaded buffer that is modified, and
-- the result; then writes every buffer (:wall) and prints "OK".
local file = assert(os.getenv("DH_FILE"), "DH_FILE")
local rtp = assert(os.getenv("DH_RTP"), "DH_RTP")
local root = vim.fn.fnamemodify(file, ":h:h") -- the folder holding wrangler.jsonc

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  os.exit(1)
end

local messages = {}
vim.lsp.handlers["window/showMessage"] = function(_, result)
  table.insert(messages, result.message)
  print("MESSAGE " .. result.message:gsub("\n", " | "))
end

local bufnr, client
if vim.lsp.config then -- 0.11+: the shipped lsp/durable-harden.lua, enabled as a user does
  vim.cmd("filetype on")
  vim.opt.runtimepath:prepend(rtp)
  vim.lsp.config("durable-harden", { init_options = { debounceMs = 20 } })
  vim.lsp.enable("durable-harden")
  vim.cmd.edit(vim.fn.fnameescape(file))
  bufnr = vim.api.nvim_get_current_buf()
else -- 0.7-0.10: start_client, as editors/neovim/test/smoke.lua does
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].filetype = "typescript"
  local id = vim.lsp.start_client({
    name = "durable-harden",
    cmd = { "durable-harden", "serve" },
    root_dir = root,
    init_options = { debounceMs = 20 },
  })
  if not id then
    fail("could not start the server")
  end
  vim.lsp.buf_attach_client(bufnr, id)
end
if not vim.wait(10000, function()
  for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if c.name == "durable-harden" and c.initialized then
      client = c
    end
  end
  return client ~= nil
end, 20) then
  fail("durable-harden did not attach")
end

local done, response = false, nil
local params = {
  command = "durable-harden.hardenAll",
  arguments = { { uri = vim.uri_from_fname(root), unsafe = true } },
}
local function on_answer(err, result)
  response = { err = err, result = result }
  done = true
end
if vim.fn.has("nvim-0.11") == 1 then
  client:request("workspace/executeCommand", params, on_answer, bufnr)
else
  client.request("workspace/executeCommand", params, on_answer, bufnr)
end
if not vim.wait(90000, function()
  return done
end, 20) then
  fail("harden all did not answer")
end
if response.err then
  fail("harden all failed: " .. vim.inspect(response.err))
end
print("RESULT " .. vim.json.encode(response.result))
for _, buf in ipairs(vim.api.nvim_list_bufs()) do
  if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].modified then
    print("MODIFIED " .. vim.api.nvim_buf_get_name(buf))
  end
end
io.stdout:write("") -- flush order
-- the user saves all: the project on disk is then what the command said it changed
vim.cmd("silent! wall")
for _, buf in ipairs(vim.api.nvim_list_bufs()) do
  if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].modified then
    fail("still modified after :wall " .. vim.api.nvim_buf_get_name(buf))
  end
end
print("OK")
os.exit(0)
