-- agent-doc for Neovim (0.7+): submit, route, claim, sync, diff, status, reset and recover a
-- session document without leaving the editor, and the live-buffer side of agent-doc's
-- write-back: an answer is merged into this buffer (unsaved typing included) with a
-- compare-and-swap on 'changedtick', saved through the editor, and undone with one `u`.
-- See :help agent-doc.

local api = vim.api
local uv = vim.loop

local M = {}

M.config = {
  -- the agent-doc command (a list: program and leading arguments)
  cmd = { "agent-doc" },
  -- what :AgentDocSubmit does: "auto" routes to the document's tmux pane when the document is
  -- claimed and runs the cycle here otherwise; "run" always runs it; "route" always routes
  submit = "auto",
  -- register session documents for live write-back into the buffer
  live_buffer = true,
  -- vim.notify on success (failures are always shown)
  notify = true,
}

M.jobs = {} -- file -> { what = "run", start = ms }
M.last_error = nil -- { what, message, hint }
M.last_applied_ns = nil -- uv.hrtime() when the last answer went into a buffer
M._registered = {} -- bufnr -> realpath
M._saved = {} -- bufnr -> text as last read from / written to disk
M._mtime = {} -- bufnr -> the file's mtime when the buffer last read or wrote it
M._stream = {} -- bufnr -> { id, tick }: the streamed answer last flushed into it (issue 16)
M._timer = nil
M._queue = {} -- registration jobs run one after the other
M._queue_busy = false

-- helpers -------------------------------------------------------------------------------------

local function now_ms()
  return uv.now()
end

local function notify(msg, level)
  vim.schedule(function()
    vim.notify(msg, level or vim.log.levels.INFO, { title = "agent-doc" })
  end)
end

local function realpath(name)
  if name == nil or name == "" then
    return nil
  end
  return uv.fs_realpath(name) or vim.fn.fnamemodify(name, ":p")
end

local function newline(buf)
  if vim.bo[buf].fileformat == "dos" then
    return "\r\n"
  elseif vim.bo[buf].fileformat == "mac" then
    return "\r"
  end
  return "\n"
end

-- the buffer as :write would put it on disk
local function render(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  local nl = newline(buf)
  local text = table.concat(lines, nl)
  if vim.bo[buf].eol or (vim.bo[buf].fixeol and not vim.bo[buf].binary) then
    text = text .. nl
  end
  return text
end

local function stat_mtime(buf)
  local st = uv.fs_stat(api.nvim_buf_get_name(buf))
  return st and st.mtime or nil
end

-- the session id from the buffer's frontmatter, or nil when it is not a session document
local function session_id(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, math.min(60, api.nvim_buf_line_count(buf)), false)
  if lines[1] == nil or not lines[1]:match("^%-%-%-%s*$") then
    return nil
  end
  for i = 2, #lines do
    local line = lines[i]
    if line:match("^%-%-%-%s*$") or line:match("^%.%.%.%s*$") then
      return nil
    end
    local key, value = line:match("^(%S+):%s*(.-)%s*$")
    if key == "agent_doc_session" or key == "session" then
      value = value:gsub("^[\"']", ""):gsub("[\"']$", "")
      if value ~= "" then
        return value
      end
    end
  end
  return nil
end

-- the nearest folder above the file holding .agent-doc/ (a loop, not finddir(): a path with
-- commas or spaces would be read as a list of folders)
local function project_root(file)
  local dir = vim.fn.fnamemodify(file, ":h")
  while dir and dir ~= "" do
    local st = uv.fs_stat(dir .. "/.agent-doc")
    if st and st.type == "directory" then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return nil
    end
    dir = parent
  end
  return nil
end

-- is the document bound to a tmux pane (an entry for its session in sessions.json)?
function M.is_claimed(buf)
  buf = buf or api.nvim_get_current_buf()
  local file = realpath(api.nvim_buf_get_name(buf))
  local sid = session_id(buf)
  local root = file and project_root(file)
  if not (sid and root) then
    return false
  end
  local f = io.open(root .. "/.agent-doc/sessions.json", "r")
  if not f then
    return false
  end
  local raw = f:read("*a")
  f:close()
  local ok, reg = pcall(vim.fn.json_decode, raw)
  return ok and type(reg) == "table" and reg[sid] ~= nil
end

-- the error and hint of a failed command, from its stderr
local function explain(lines)
  local message, hint
  for _, line in ipairs(lines) do
    if line:match("^Error: ") then
      message = line:sub(8)
    elseif line:match("^hint: ") then
      hint = line:sub(7)
    end
  end
  if not message then
    for i = #lines, 1, -1 do
      if lines[i] ~= "" then
        message = lines[i]
        break
      end
    end
  end
  return message or "failed", hint
end

local function refresh_timer()
  if next(M.jobs) == nil then
    if M._timer then
      M._timer:stop()
      M._timer:close()
      M._timer = nil
    end
    vim.schedule(function()
      vim.cmd("redrawstatus!")
    end)
    return
  end
  if not M._timer then
    M._timer = uv.new_timer()
    M._timer:start(1000, 1000, vim.schedule_wrap(function()
      vim.cmd("redrawstatus!")
    end))
  end
end

local function clean(lines)
  local out = {}
  for _, l in ipairs(lines or {}) do
    out[#out + 1] = (l:gsub("\r$", ""))
  end
  if out[#out] == "" then
    out[#out] = nil
  end
  return out
end

-- run `agent-doc ARGS` without blocking; on_done(code, stdout_lines, stderr_lines)
function M.spawn(args, opts)
  opts = opts or {}
  local argv = vim.list_extend(vim.deepcopy(M.config.cmd), args)
  local key = opts.track
  local job = vim.fn.jobstart(argv, {
    cwd = opts.cwd,
    stdout_buffered = true,
    stderr_buffered = true,
    on_stdout = function(_, data)
      opts._out = clean(data)
    end,
    on_stderr = function(_, data)
      opts._err = clean(data)
    end,
    on_exit = function(_, code)
      if key then
        M.jobs[key] = nil
        refresh_timer()
      end
      local out, err = opts._out or {}, opts._err or {}
      if code ~= 0 and not opts.quiet then
        local message, hint = explain(err)
        M.last_error = { what = args[1], message = message, hint = hint }
        notify(("agent-doc %s: %s%s"):format(args[1], message, hint and ("\nhint: " .. hint) or ""),
          vim.log.levels.ERROR)
      end
      if opts.on_done then
        vim.schedule(function()
          opts.on_done(code, out, err)
        end)
      end
    end,
  })
  if job <= 0 then
    local message = ("cannot start %s"):format(argv[1])
    M.last_error = { what = args[1], message = message,
      hint = "set cmd in require('agent_doc').setup()" }
    notify("agent-doc: " .. message .. "\nhint: install agent-doc or set `cmd` in setup()",
      vim.log.levels.ERROR)
    return nil
  end
  if key then
    M.jobs[key] = { what = args[1], start = now_ms() }
    refresh_timer()
  end
  return job
end

-- registration (live buffer) --------------------------------------------------------------------

local function pump()
  if M._queue_busy or #M._queue == 0 then
    return
  end
  M._queue_busy = true
  local item = table.remove(M._queue, 1)
  local started = M.spawn(item.args, {
    quiet = true,
    on_done = function(code)
      M._queue_busy = false
      if item.done then
        item.done(code)
      end
      pump()
    end,
  })
  if not started then
    M._queue_busy = false
  end
end

local function enqueue(args, done)
  table.insert(M._queue, { args = args, done = done })
  pump()
end

local function server()
  local addr = vim.v.servername
  if addr == nil or addr == "" then
    addr = vim.fn.serverstart()
  end
  return addr
end

-- register the buffer's document for live write-back (once); done() runs when it is on disk
function M.register(buf, done)
  buf = buf or api.nvim_get_current_buf()
  local name = api.nvim_buf_get_name(buf)
  local real = realpath(name)
  if not (M.config.live_buffer and real and session_id(buf) and project_root(real)) then
    if done then
      done(false)
    end
    return
  end
  if M._saved[buf] == nil and not vim.bo[buf].modified then
    M._saved[buf] = render(buf)
    M._mtime[buf] = stat_mtime(buf)
  end
  if M._registered[buf] == real then
    if done then
      done(true)
    end
    return
  end
  M._registered[buf] = real
  enqueue({ "editor", "register", real, "--server", server(), "--pid", tostring(vim.fn.getpid()) },
    function(code)
      if done then
        done(code == 0)
      end
    end)
end

function M.unregister(buf)
  local real = M._registered[buf]
  M._registered[buf] = nil
  M._saved[buf] = nil
  M._mtime[buf] = nil
  M._stream[buf] = nil
  if real then
    enqueue({ "editor", "unregister", real, "--pid", tostring(vim.fn.getpid()) })
  end
end

local function find_buf(real)
  for buf, path in pairs(M._registered) do
    if path == real and api.nvim_buf_is_loaded(buf) then
      return buf
    end
  end
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) and realpath(api.nvim_buf_get_name(buf)) == real then
      return buf
    end
  end
  return nil
end

local function wall_now()
  local sec, usec = uv.gettimeofday()
  return sec + usec / 1e6
end

-- RPC from agent-doc's write-back: the buffer as it is now
function M._bridge_get(real)
  local buf = find_buf(real)
  if not buf then
    return { found = false }
  end
  return {
    found = true,
    tick = api.nvim_buf_get_changedtick(buf),
    text = render(buf),
    saved = M._saved[buf] or vim.NIL,
    -- the file's time when the buffer last read or wrote it: Neovim compares it (to the
    -- nanosecond) before :write!, and asks "changed since reading it" when it differs
    mtime = M._mtime[buf] or vim.NIL,
    nl = newline(buf),
  }
end

-- a new undo block starts here (what `:let &g:undolevels = &g:undolevels` does): our change
-- never joins the user's insert-mode typing, and typing after it never joins ours
-- (undo commands act on the current buffer: the callers run inside nvim_buf_call)
local function undo_break()
  vim.cmd("let &g:undolevels = &g:undolevels")
end

local function set_hunks(buf, hunks)
  -- from the last to the first: the indices of the earlier hunks stay valid
  for i = #hunks, 1, -1 do
    local h = hunks[i]
    if i < #hunks then
      pcall(vim.cmd, "undojoin")
    end
    api.nvim_buf_set_lines(buf, h[1], h[2], false, h[3])
  end
end

-- RPC from agent-doc's write-back: apply the hunks if nobody typed since _bridge_get, as one
-- undo step, then save through the editor. Refused once the caller's deadline has passed (the
-- caller has then written the file itself).
--
-- `stream` (optional) marks a streamed answer (issue 16): { id = <the answer's token>,
-- final = <the last write of it>, pre = <hunks removing the streaming region, applied
-- first> }. Each flush joins the previous flush of the same answer into one undo step when
-- nothing changed the buffer in between (`undojoin`), and so does the final write: `u` then
-- gives back the buffer as it was before the answer. When the user did type during the
-- stream, the final write comes as two steps — the region removed (joined to the last flush
-- if it can), then the whole answer inserted — so that one `u` takes the whole answer out and
-- leaves every typed character.
function M._bridge_put(real, tick, hunks, eol, deadline, stream)
  local buf = find_buf(real)
  if not buf then
    return { status = "gone" }
  end
  if wall_now() > deadline then
    return { status = "late" }
  end
  if api.nvim_buf_get_changedtick(buf) ~= tick then
    return { status = "retry" }
  end
  if type(stream) ~= "table" then
    stream = nil
  end
  local last = stream and M._stream[buf]
  local join = last ~= nil and last.id == stream.id and last.tick == tick
  local ok, err = pcall(api.nvim_buf_call, buf, function()
    if join then
      pcall(vim.cmd, "undojoin") -- the newest undo block is our previous flush
    else
      undo_break()
    end
    if stream and type(stream.pre) == "table" and #stream.pre > 0 then
      set_hunks(buf, stream.pre)
      if not (join and last.whole) then
        undo_break() -- the user typed during the stream: the answer goes in as a step of its own
      else
        pcall(vim.cmd, "undojoin") -- nobody typed: the stream and the answer are one step
      end
    end
    set_hunks(buf, hunks)
    undo_break()
    M.last_applied_ns = uv.hrtime() -- when the answer became visible (for bench_editor.py)
    if vim.bo[buf].eol ~= eol then
      vim.bo[buf].eol = eol
      if not eol then
        vim.bo[buf].fixeol = false
      end
    end
    vim.cmd("silent keepalt keepjumps write!")
  end)
  if not ok then
    M._stream[buf] = nil
    return { status = "error", error = tostring(err) }
  end
  M._saved[buf] = render(buf)
  M._mtime[buf] = stat_mtime(buf)
  local now = api.nvim_buf_get_changedtick(buf)
  if stream and not stream.final then
    -- whole: every flush of this answer so far joined the first one (nobody typed between)
    local first = last == nil or last.id ~= stream.id
    M._stream[buf] = { id = stream.id, tick = now, whole = first or (join and last.whole) }
  else
    M._stream[buf] = nil
  end
  return { status = "ok", tick = now, joined = join }
end

-- commands ------------------------------------------------------------------------------------

local function current_file()
  local buf = api.nvim_get_current_buf()
  local name = api.nvim_buf_get_name(buf)
  if name == "" then
    notify("agent-doc: this buffer has no file\nhint: save it as a Markdown document first",
      vim.log.levels.ERROR)
    return nil
  end
  return realpath(name), buf
end

local function file_dir(file)
  return vim.fn.fnamemodify(file, ":h")
end

local function done_notify(what, file)
  return function(code)
    if code == 0 and M.config.notify then
      notify(("agent-doc %s: done (%s)"):format(what, vim.fn.fnamemodify(file, ":t")))
    end
  end
end

function M.route(file)
  file = file or current_file()
  if not file then
    return
  end
  return M.spawn({ "route", file }, { cwd = file_dir(file), on_done = done_notify("route", file) })
end

function M.run(file)
  return M.spawn({ "run", file }, { cwd = file_dir(file), track = file,
    on_done = function(code, _, err)
      if code == 0 and M.config.notify then
        local unchanged = false
        for _, l in ipairs(err) do
          if l:match("Nothing changed") then
            unchanged = true
          end
        end
        notify(unchanged and "agent-doc: nothing changed since the last submit"
          or ("agent-doc: answer written into " .. vim.fn.fnamemodify(file, ":t")))
      end
    end })
end

function M.submit()
  local file, buf = current_file()
  if not file then
    return
  end
  if vim.bo[buf].modified then
    vim.cmd("silent write")
  end
  if M.jobs[file] then
    notify("agent-doc: a cycle for this document is already running", vim.log.levels.WARN)
    return
  end
  local mode = M.config.submit
  if mode == "route" or (mode == "auto" and M.is_claimed(buf)) then
    return M.route(file)
  end
  M.register(buf, function()
    M.run(file)
  end)
end

function M.claim(position)
  local file = current_file()
  if not file then
    return
  end
  local args = { "claim", file }
  if position and position ~= "" then
    if position:match("^%%%d+$") then
      vim.list_extend(args, { "--pane", position })
    else
      vim.list_extend(args, { "--position", position })
    end
  end
  return M.spawn(args, { cwd = file_dir(file), on_done = done_notify("claim", file) })
end

-- the current tab's columns of windows, each a list of files (top to bottom)
function M.columns()
  local function leaves(node, out)
    if node[1] == "leaf" then
      out[#out + 1] = node[2]
    else
      for _, child in ipairs(node[2]) do
        leaves(child, out)
      end
    end
  end
  local layout = vim.fn.winlayout()
  local groups = {}
  if layout[1] == "row" then
    for _, child in ipairs(layout[2]) do
      local wins = {}
      leaves(child, wins)
      groups[#groups + 1] = wins
    end
  else
    local wins = {}
    leaves(layout, wins)
    groups[1] = wins
  end
  local cols, seen = {}, {}
  for _, wins in ipairs(groups) do
    local files = {}
    for _, win in ipairs(wins) do
      local buf = api.nvim_win_get_buf(win)
      local file = realpath(api.nvim_buf_get_name(buf))
      if file and vim.bo[buf].buftype == "" and session_id(buf) and not seen[file] then
        seen[file] = true
        files[#files + 1] = file
      end
    end
    if #files > 0 then
      cols[#cols + 1] = files
    end
  end
  return cols
end

function M.sync()
  local cols = M.columns()
  if #cols == 0 then
    notify("agent-doc sync: no session document is shown in this tab", vim.log.levels.WARN)
    return
  end
  local args = { "sync" }
  for _, files in ipairs(cols) do
    vim.list_extend(args, { "--col", table.concat(files, ",") })
  end
  local cur = realpath(api.nvim_buf_get_name(0))
  if cur and session_id(0) then
    vim.list_extend(args, { "--focus", cur })
  end
  return M.spawn(args, { cwd = file_dir(cols[1][1]), on_done = done_notify("sync", cols[1][1]) })
end

local function scratch(title, lines, ft)
  vim.cmd("botright new")
  local buf = api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  pcall(api.nvim_buf_set_name, buf, title)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if ft then
    vim.bo[buf].filetype = ft
  end
  return buf
end

function M.diff()
  local file = current_file()
  if not file then
    return
  end
  return M.spawn({ "diff", file }, { cwd = file_dir(file), on_done = function(code, out)
    if code ~= 0 then
      return
    end
    if #out == 0 then
      notify("agent-doc diff: nothing changed since the last submit")
      return
    end
    scratch("agent-doc diff " .. vim.fn.fnamemodify(file, ":t"), out, "diff")
  end })
end

function M.status()
  local file = realpath(api.nvim_buf_get_name(0))
  local function show(code, out)
    if code == 0 then
      scratch("agent-doc status", out, nil)
    end
  end
  return M.spawn({ "status" }, { cwd = file and file_dir(file) or nil, on_done = show })
end

function M.reset()
  local file = current_file()
  if file then
    return M.spawn({ "reset", file },
      { cwd = file_dir(file), on_done = done_notify("reset", file) })
  end
end

function M.recover()
  local file = current_file()
  if file then
    return M.spawn({ "recover", file }, { cwd = file_dir(file), track = file,
      on_done = done_notify("recover", file) })
  end
end

-- a statusline component: "agent-doc: run 12s" while a command works on this buffer's document
function M.statusline()
  local file = realpath(api.nvim_buf_get_name(0))
  local job = file and M.jobs[file]
  if not job then
    return ""
  end
  return ("agent-doc: %s %ds"):format(job.what, math.floor((now_ms() - job.start) / 1000))
end

-- setup ---------------------------------------------------------------------------------------

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local group = api.nvim_create_augroup("agent_doc", { clear = true })
  api.nvim_create_autocmd({ "BufReadPost", "BufWritePost", "FileChangedShellPost" }, {
    group = group,
    callback = function(ev)
      if M._registered[ev.buf] or session_id(ev.buf) then
        M._saved[ev.buf] = render(ev.buf)
        M._mtime[ev.buf] = stat_mtime(ev.buf)
      end
      M.register(ev.buf)
    end,
  })
  api.nvim_create_autocmd("BufEnter", {
    group = group,
    callback = function(ev)
      M.register(ev.buf)
    end,
  })
  api.nvim_create_autocmd({ "BufDelete", "BufWipeout", "BufUnload" }, {
    group = group,
    callback = function(ev)
      M.unregister(ev.buf)
    end,
  })
  -- the file changed on disk behind the buffer (a write-back fell back to the disk path while
  -- this editor did not answer): reload an unmodified buffer; pull the change into a modified
  -- one through agent-doc's merge instead of Neovim's W11/W12 prompt
  api.nvim_create_autocmd("FileChangedShell", {
    group = group,
    callback = function(ev)
      local reason = vim.v.fcs_reason
      if not M._registered[ev.buf] or (reason ~= "changed" and reason ~= "conflict") then
        vim.v.fcs_choice = "ask" -- deleted, mode, time: Neovim's own handling
        return
      end
      if not vim.bo[ev.buf].modified then
        vim.v.fcs_choice = "reload"
        return
      end
      vim.v.fcs_choice = ""
      local real = M._registered[ev.buf]
      enqueue({ "editor", "pull", real, "--pid", tostring(vim.fn.getpid()) })
    end,
  })
  api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      local files = {}
      for _, real in pairs(M._registered) do
        files[#files + 1] = real
      end
      if #files > 0 then
        local argv = vim.list_extend(vim.deepcopy(M.config.cmd), { "editor", "unregister" })
        vim.list_extend(argv, files)
        vim.list_extend(argv, { "--pid", tostring(vim.fn.getpid()) })
        vim.fn.system(argv)
      end
    end,
  })
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) then
      M.register(buf)
    end
  end
  return M
end

return M
