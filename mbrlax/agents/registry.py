"""The agents mbrlax knows, by name: the CLI, sweeps and docs read this table.

Adding an agent: write its folder (``agents/<name>/``: the agent, its presets, and an
``ENTRY`` in ``__init__.py``, see :class:`mbrlax.agents.base.AgentEntry`), then add its folder's
name to :data:`FOLDERS`. Nothing in the training loop or the CLI changes.
"""

from __future__ import annotations

import difflib
import importlib

from mbrlax.agents.base import AgentEntry

FOLDERS = (
    "pets",
    "mpc",
    "dyna",
    "sac",
    "mbpo",
    "alphazero",
    "muzero",
    "pilco",
    "linear",
)
"""The agents' folders under ``mbrlax/agents/``, in the order ``mbrlax --help`` lists them;
each declares ``ENTRY``."""

AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (importlib.import_module(f"mbrlax.agents.{f}").ENTRY for f in FOLDERS)
}


def get_agent(name: str) -> AgentEntry:
    """The entry of the agent called ``name``; ``ValueError`` naming the known ones if none."""
    if name in AGENTS:
        return AGENTS[name]
    close = difflib.get_close_matches(name, list(AGENTS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENTS)}.{hint}")
