"""The stress/fault suite of agent-doc: ``python -m stress`` (see ``stress/__main__.py``).

Three parts, each checking invariants from outside through the real CLI:

* ``torture`` (:mod:`stress.torture`) — many concurrent commands, an editor, the watch daemon;
* ``crash`` (:mod:`stress.crash`) — SIGKILL at random instants of every writing command;
* ``badinput`` (:mod:`stress.badinput`) — a corpus of broken inputs and environments.
"""
