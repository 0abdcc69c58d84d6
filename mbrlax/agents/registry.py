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
    "planet",
    "dreamer",
    "tdmpc2",
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


def agents_markdown() -> str:
    """``docs/agents.md``: a table of the registry's agents (a test keeps the file in sync)."""
    lines = [
        "# Agents",
        "",
        "Generated from `mbrlax/agents/registry.py` by `python -m mbrlax.agents.registry > "
        "docs/agents.md`;",
        "a test keeps this page in sync. `mbrlax train NAME --env ID --help` lists every option "
        "with the",
        "defaults for that env; [adding_an_agent.md](adding_an_agent.md) shows how to add one.",
        "",
        "| name | what it does | default env | `final_model.eqx` keeps | example |",
        "|---|---|---|---|---|",
    ]
    for e in AGENTS.values():
        example = e.usage.split("   (")[0]
        lines.append(
            f"| `{e.name}` | {e.title} | `{e.default_env}` | {e.saved_help} | `{example}` |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(agents_markdown(), end="")
