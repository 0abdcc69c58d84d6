"""What the commands share: usage errors, choosing among names, a plain-text table."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence

import numpy as np


def algos() -> tuple[str, ...]:
    """The agents ``mbrlax train`` knows (:mod:`mbrlax.agents.registry`)."""
    from mbrlax.agents.registry import AGENTS

    return tuple(AGENTS)


class CLIError(SystemExit):
    """A usage error: the message goes to stderr and the exit status is 2."""

    def __init__(self, message: str):
        print(f"mbrlax: error: {message}", file=sys.stderr)
        super().__init__(2)


def choose(word: str | None, valid: Sequence[str], what: str) -> str:
    if word in valid:
        return word
    close = difflib.get_close_matches(word or "", valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise CLIError(f"unknown {what} {word!r}; valid: {', '.join(valid)}.{hint}")


def peek_env(args: Sequence[str], default: str) -> str:
    # The env picks the preset that tyro then overrides, so it is read before the full parse.
    for i, arg in enumerate(args):
        if arg == "--env" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return default


def format_table(rows: list[dict], columns: Sequence[str]) -> str:
    """A plain-text table of ``rows`` (numbers rounded for reading)."""

    def fmt(v):
        if isinstance(v, float):
            return "nan" if np.isnan(v) else f"{v:.1f}"
        return str(v)

    cells = [[fmt(r.get(c, float("nan"))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=False))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=False)) for row in cells]
    return "\n".join(lines)
