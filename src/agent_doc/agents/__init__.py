"""Agent backends behind one interface, and the choice of which one to use (SPEC A7, §4.5).

Which agent: ``--agent`` > the document's frontmatter ``agent`` > ``default_agent`` in the
config > ``claude`` when it is on PATH; otherwise an error that says how to configure one or to
use ``--agent offline``.

What a name means:

* ``offline`` — the built-in deterministic agent (:mod:`.offline`); cannot be configured;
* ``claude`` — the Claude Code CLI (:mod:`.claude`); ``[agents.claude]`` may set ``command``,
  ``args`` (replacing the default arguments entirely), ``model``, ``timeout``, ``protocol``;
* any ``[agents.NAME]`` — ``protocol = "claude"`` (default: the program speaks Claude's JSON
  protocol and accepts its flags), ``"text"`` (:mod:`.command`: stdin in, stdout out) or
  ``"openai"`` (:mod:`.openai`: chat completions over HTTP);
* ``junie`` — the reference's Junie backend is **not built**; an ``[agents.junie]`` table is
  used like any other configured agent.

Backends are imported only when chosen.
"""

from __future__ import annotations

import os

from agent_doc.agents.base import Agent, AgentError, AgentReply, AgentTimeout
from agent_doc.config import AgentConfig, Config, ConfigError, global_config_path, locate

__all__ = [
    "BUILTIN_AGENTS",
    "Agent",
    "AgentError",
    "AgentReply",
    "AgentTimeout",
    "build_agent",
    "known_agents",
    "resolve_agent",
    "resolve_agent_name",
    "select_agent",
]

BUILTIN_AGENTS = ("claude", "offline")


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def known_agents(config: Config) -> list[str]:
    return sorted({*BUILTIN_AGENTS, *config.agents})


def _claude_command(config: Config) -> str:
    cfg = config.agents.get("claude")
    return os.path.expanduser(cfg.command) if cfg and cfg.command else "claude"


def resolve_agent_name(
    cli_agent: str | None, doc_agent: str | None, config: Config
) -> tuple[str, str]:
    """``(name, where the name came from)`` by the precedence of the module docstring."""
    if _clean(cli_agent):
        return _clean(cli_agent) or "", "--agent"
    if _clean(doc_agent):
        return _clean(doc_agent) or "", "the document's frontmatter `agent:`"
    if config.default_agent:
        src = config.sources[-1] if config.sources else global_config_path()
        for path in reversed(config.sources):  # the file that actually set it
            if locate(path, ("default_agent",)):
                src = path
                break
        return config.default_agent, f"default_agent in {src}"
    import shutil

    if shutil.which(_claude_command(config)):
        return "claude", "the default (`claude` is on PATH)"
    raise AgentError(
        "no agent to submit to: none was chosen and `claude` is not on PATH",
        hint="install Claude Code, or choose an agent: `--agent NAME`, `agent: NAME` in the "
        "document's frontmatter, or default_agent = \"NAME\" with an [agents.NAME] table "
        '(command = "...", or protocol = "openai" with base_url and model) in '
        f"{config.where_to_configure()}; `--agent offline` runs the built-in offline agent",
    )


def resolve_agent(cli_agent: str | None, doc_agent: str | None, config: Config) -> Agent:
    """The agent to submit to (see the module docstring for the precedence and the names)."""
    name, origin = resolve_agent_name(cli_agent, doc_agent, config)
    return build_agent(name, config, origin=origin)


def select_agent(
    cli_agent: str | None, doc_agent: str | None, project_root: str | os.PathLike[str] | None
) -> Agent:
    """:func:`resolve_agent` that reads the config only when it is needed; a claude-protocol
    agent is set to run in ``project_root``.

    ``--agent offline`` (or ``agent: offline`` in the frontmatter) needs no config, so a broken
    config file cannot stop the offline agent (``demo``, tests); every other choice loads it
    (and a broken file then fails with its ``file:line``, C46).
    """
    from agent_doc.config import load_config

    for name in (_clean(cli_agent), _clean(doc_agent)):
        if name == "offline":
            return build_agent("offline", Config(None, {}, []))
        if name:
            break
    agent = resolve_agent(cli_agent, doc_agent, load_config(project_root))
    if project_root is not None and getattr(agent, "chooses_conversation_id", False):
        # Claude Code files conversations by the folder it runs in: always the project root,
        # whatever folder agent-doc (or `watch`) was started from
        agent.cwd = os.fspath(project_root)  # type: ignore[attr-defined]
    return agent


def build_agent(name: str, config: Config, *, origin: str | None = None) -> Agent:
    """The backend for ``name``; ``origin`` (where the name came from) goes into errors."""
    if name == "offline":
        from agent_doc.agents.offline import OfflineAgent

        return OfflineAgent()
    cfg = config.agents.get(name)
    if cfg is None:
        if name == "claude":
            from agent_doc.agents.claude import ClaudeAgent

            return ClaudeAgent(config_file=global_config_path())
        came = f" (from {origin})" if origin else ""
        if name == "junie":
            raise AgentError(
                f"the Junie backend is not built in this agent-doc{came}",
                hint="use another agent, or add [agents.junie] with a command that speaks the "
                'claude JSON protocol (or protocol = "text") in '
                f"{config.where_to_configure()}",
            )
        raise AgentError(
            f"unknown agent '{name}'{came}; known agents: {', '.join(known_agents(config))}",
            hint=f'add [agents.{name}] with command = "..." (or protocol = "openai" with '
            f"base_url and model) in {config.where_to_configure()}, or pick a known agent",
        )
    return _from_config(cfg)


def _table_error(cfg: AgentConfig, problem: str, hint: str) -> ConfigError:
    where = "config"
    if cfg.source is not None:
        line = locate(cfg.source, ("agents", cfg.name))
        where = f"{cfg.source}:{line}" if line else str(cfg.source)
    return ConfigError(f"{where}: [agents.{cfg.name}] {problem}", hint=hint)


def _from_config(cfg: AgentConfig) -> Agent:
    cfg.require_trusted()  # an untrusted project's command/endpoint/env: refuse (SPEC A12)
    source = cfg.source or global_config_path()
    if cfg.protocol == "openai":
        if not cfg.base_url:
            raise _table_error(
                cfg, 'uses protocol = "openai" but has no base_url',
                'add base_url = "http://127.0.0.1:8080/v1" (the address of the API, '
                "usually ending in /v1)",
            )
        from agent_doc.agents.openai import OpenAIAgent

        return OpenAIAgent(
            cfg.name, cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env,
            timeout=cfg.timeout, config_file=source,
        )
    command = cfg.command or ("claude" if cfg.name == "claude" else None)
    if command is None:
        raise _table_error(
            cfg, "has no command",
            'add command = "program" (the program to run; it gets the prompt on stdin), '
            'or protocol = "openai" with base_url for an HTTP API',
        )
    if cfg.protocol == "text":
        from agent_doc.agents.command import TextAgent

        return TextAgent(cfg.name, command, cfg.args or [], timeout=cfg.timeout,
                         config_file=source)
    from agent_doc.agents.claude import DEFAULT_ARGS, ClaudeAgent

    if cfg.args is not None:
        args: list[str] = list(cfg.args)
    else:
        args = list(DEFAULT_ARGS) if cfg.name == "claude" else []
    return ClaudeAgent(cfg.name, command, args, model=cfg.model, timeout=cfg.timeout,
                       config_file=source)
