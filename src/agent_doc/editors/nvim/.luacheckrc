-- luacheck configuration for the agent-doc Neovim plugin
std = "luajit"
globals = { "vim" }
max_line_length = 100
