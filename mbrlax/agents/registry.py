"""The agents mbrlax knows, by name: the CLI, sweeps and docs read this table.

Adding an agent: write its folder (``agents/<name>/``: the agent, its presets, and an
``ENTRY`` in ``__init__.py``, see :class:`mbrlax.agents.base.AgentEntry`), then add one line
below. Nothing in the training loop or the CLI changes.
"""

from __future__ import annotations

import difflib

from mbrlax.agents import alphazero, dyna, mbpo, mpc, muzero, pets, pilco, sac
from mbrlax.agents.base import AgentEntry

AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (
        pets.ENTRY,
        mpc.ENTRY,
        dyna.ENTRY,
        sac.ENTRY,
        mbpo.ENTRY,
        alphazero.ENTRY,
        muzero.ENTRY,
        pilco.ENTRY,
    )
}


def get_agent(name: str) -> AgentEntry:
    """The entry of the agent called ``name``; ``ValueError`` naming the known ones if none."""
    if name in AGENTS:
        return AGENTS[name]
    close = difflib.get_close_matches(name, list(AGENTS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENTS)}.{hint}")
