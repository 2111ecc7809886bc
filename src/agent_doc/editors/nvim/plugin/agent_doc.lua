-- agent-doc's user commands (the plugin's entry point; see :help agent-doc).
-- Live write-back into buffers starts with require("agent_doc").setup({}).
if vim.g.loaded_agent_doc then
  return
end
vim.g.loaded_agent_doc = true
if vim.fn.has("nvim-0.7") == 0 then
  vim.api.nvim_err_writeln("agent-doc: the plugin needs Neovim 0.7 or newer")
  return
end

local function ad()
  return require("agent_doc")
end

local commands = {
  AgentDocSubmit = { function() ad().submit() end, "save, then run the cycle (or route)" },
  AgentDocRoute = { function() ad().route() end, "send /agent-doc FILE to the document's pane" },
  AgentDocClaim = { function(o) ad().claim(o.args) end, "bind the document to a tmux pane",
    { nargs = "?", complete = function() return { "left", "right", "top", "bottom" } end } },
  AgentDocSync = { function() ad().sync() end, "mirror this tab's columns in tmux" },
  AgentDocDiff = { function() ad().diff() end, "show what changed since the last submit" },
  AgentDocStatus = { function() ad().status() end, "show the project's state" },
  AgentDocReset = { function() ad().reset() end, "forget the agent conversation" },
  AgentDocRecover = { function() ad().recover() end, "apply a pending answer" },
}

for name, spec in pairs(commands) do
  local opts = vim.tbl_extend("force", { desc = "agent-doc: " .. spec[2] }, spec[3] or {})
  vim.api.nvim_create_user_command(name, spec[1], opts)
end
