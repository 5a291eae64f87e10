-- Headless end-to-end check in real Neovim (0.7+):
--   DH_FILE=/abs/path/src/chat-room.ts nvim --headless -u NONE -c 'luafile editors/neovim/test/smoke.lua'
-- Opens the file, waits for the timer diagnostic, applies "Disable ... for this line" through
-- Neovim's own workspace-edit code, and waits for the diagnostic to go. Exits 1 on failure.
local file = os.getenv("DH_FILE")
local cmd = os.getenv("DH_CMD") or "durable-harden"

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  os.exit(1)
end

vim.cmd("edit " .. file)
local bufnr = vim.api.nvim_get_current_buf()
vim.bo[bufnr].filetype = "typescript"

local client_id = vim.lsp.start_client({
  name = "durable-harden",
  cmd = vim.split(cmd, " "),
  root_dir = vim.fn.fnamemodify(file, ":h:h"),
  init_options = { debounceMs = 20 },
})
if not client_id then
  fail("could not start the server")
end
vim.lsp.buf_attach_client(bufnr, client_id)

local function timer_diags()
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.code == "timer-blocks-hibernation" then
      table.insert(found, d)
    end
  end
  return found
end

if not vim.wait(15000, function() return #timer_diags() == 1 end, 50) then
  fail("no timer-blocks-hibernation diagnostic")
end
local diag = timer_diags()[1]
print(string.format("diagnostic at %d:%d", diag.lnum + 1, diag.col + 1))

local client = vim.lsp.get_client_by_id(client_id)
local range = {
  start = { line = diag.lnum, character = diag.col },
  ["end"] = { line = diag.end_lnum, character = diag.end_col },
}
-- Neovim keeps part of the server's diagnostic in user_data.lsp (0.7: code and data, without
-- range and message): rebuild a whole LSP diagnostic, with `data` when Neovim kept it
local kept = (diag.user_data and diag.user_data.lsp) or {}
local lsp_diag = {
  range = range,
  message = diag.message,
  code = diag.code,
  source = diag.source,
  severity = diag.severity,
  data = kept.data,
}
local params = {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  range = range,
  context = { diagnostics = { lsp_diag } },
}
local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/codeAction", params, 10000)
local action
for _, response in pairs(responses or {}) do
  for _, candidate in ipairs(response.result or {}) do
    if candidate.title:match("for this line$") then
      action = candidate
    end
  end
end
if not action then
  fail("no 'Disable ... for this line' code action")
end
vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
if not vim.wait(15000, function() return #timer_diags() == 0 end, 50) then
  fail("diagnostic still there after the quick fix")
end
local line = vim.api.nvim_buf_get_lines(bufnr, diag.lnum, diag.lnum + 1, false)[1]
if not line:match("durable%-harden%-ignore timer%-blocks%-hibernation") then
  fail("the suppression comment is not above the line: " .. line)
end
print("OK")
vim.lsp.stop_client(client_id)
os.exit(0)
