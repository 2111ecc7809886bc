"""The shared test kit: helpers every test file may import (``from helpers.docs import make_doc``).

``tests/`` is on ``sys.path`` (``pythonpath = ["tests"]`` in pyproject.toml), so this package is
``helpers``. Fixtures stay in ``tests/conftest.py`` and call these helpers; no test imports from
``conftest`` (it still re-exports the names it used to define, for branches written before the
kit; new code imports them from here). Add a helper here when a second test file needs it.

What is where:

* :mod:`helpers.paths`   -- ``REPO``, ``SRC``, ``FAKES``: where the repository, its sources and the
  fake agents are.
* :mod:`helpers.cli`     -- the CLI as a real subprocess: :func:`~helpers.cli.run_cli` (returns a
  :class:`~helpers.cli.Result`), :func:`~helpers.cli.spawn_cli` (a ``Popen`` left running),
  :func:`~helpers.cli.trust_project`.
* :mod:`helpers.docs`    -- documents on disk: :func:`~helpers.docs.make_doc` (one function, keyword
  options for each shape the tests use) and :data:`~helpers.docs.CONVERSATION`. A test file
  binds the shape it always uses once: ``make_doc = partial(helpers.docs.make_doc, ...)``.
* :mod:`helpers.registry` -- what agent-doc recorded: :func:`~helpers.registry.session_of` (a
  document's session id), :func:`~helpers.registry.registry` (``.agent-doc/sessions.json``).
* :mod:`helpers.tmux`    -- isolated tmux servers: :class:`~helpers.tmux.TmuxServer`,
  :func:`~helpers.tmux.restart`, :func:`~helpers.tmux.logger_pane`,
  :class:`~helpers.tmux.TmuxCounter` (counts tmux processes through a PATH shim).
* :mod:`helpers.agents`  -- the fake ``claude``: :func:`~helpers.agents.install_fake_claude`,
  :func:`~helpers.agents.claude_calls` (its call log), :func:`~helpers.agents.wait_for_calls`.
* :mod:`helpers.procs`   -- :func:`~helpers.procs.pid_gone` (a bounded wait until a process is
  gone or a zombie), :func:`~helpers.procs.pid_running`.
* :mod:`helpers.waiting` -- :func:`~helpers.waiting.wait_until`: poll until a condition holds; on
  timeout the failure names what was awaited and what was last seen.

``claude_kit.py`` (the real Claude Code CLI and a stand-in API) and ``nvim_driver.py`` (a real
Neovim over RPC) are larger kits of their own, next to this package.
"""
