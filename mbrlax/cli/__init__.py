"""The ``mbrlax`` command; each group of subcommands lives in a module of this package:
``train`` / ``resume`` / ``eval`` in ``train.py``, ``diagnose`` / ``plot`` / ``compare`` in
``look.py``, ``sweep`` in ``sweep.py``, ``draw`` in ``draw.py``.

    mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir runs/p0
    mbrlax eval runs/p0
    mbrlax plot runs/p0 runs/p1 --out curves.png
    mbrlax compare runs/ --threshold Pendulum-v1=-200
    mbrlax sweep --envs Pendulum-v1 mbrlax/Pendulum-v0 --seeds 0 1 2 --out runs/s1 -- --episodes 5

Options are typed config dataclasses turned into flags by tyro: ``mbrlax train pets --help``
lists them all, and a mistyped option is answered with the valid ones.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Sequence

from mbrlax.cli.common import CLIError, algos, choose

USAGE_HEAD = "usage: mbrlax {train,resume,eval,plot,compare,sweep,draw,diagnose} ..."
USAGE_TAIL = """  mbrlax resume DIR                  (or: mbrlax train pets --resume DIR)
  mbrlax eval DIR [--episodes 5]
  mbrlax diagnose DIR [--start 100 --horizon 350]   (a learned model against the truth)
  mbrlax plot DIR [DIR ...] [--out curves.png]
  mbrlax compare DIR [DIR ...] [--threshold [ENV=]VALUE ...] [--csv PATH] [--json]
  mbrlax sweep --envs ENV [ENV ...] --seeds S [S ...] --out DIR [--option FLAG=V1,V2 ...]
               [--backend auto|ray|process] [--address ADDR] [-- TRAIN ARGS ...]
  mbrlax draw --env mbrlax/BicycleTrack-v0 --out plan.png [agent.planner:mppi --fan-at 12]

A DIR given to plot or compare is a run directory or a folder holding run directories
(searched recursively); runs are grouped by algorithm and env, seeds aggregated."""


def usage() -> str:
    """``mbrlax --help``: a line per command, and one per agent of the registry."""
    from mbrlax.agents.registry import AGENTS

    names = list(AGENTS)
    train = [f"  {entry.usage}" for entry in AGENTS.values()]
    more = f"Run `mbrlax train {names[0]} --help` (or {', '.join(f'`{n}`' for n in names[1:])})"
    more = textwrap.fill(more + " for every option.", width=88, break_on_hyphens=False)
    return "\n".join([USAGE_HEAD, "", *train, USAGE_TAIL, "", more])


_COMMAND_MODULES = {
    "train": "train",
    "resume": "train",
    "eval": "train",
    "plot": "look",
    "compare": "look",
    "sweep": "sweep",
    "draw": "draw",
    "diagnose": "look",
}
"""The module of ``mbrlax.cli`` that holds each command's ``<command>_command(args)``."""

COMMANDS = tuple(_COMMAND_MODULES)


def headless_rendering() -> None:
    """On a machine without a display, MuJoCo (DeepMind Control's pixels, Gymnasium MuJoCo
    videos) renders through EGL unless the user chose a backend: ``MUJOCO_GL=egl`` when
    ``MUJOCO_GL`` and ``DISPLAY`` are both unset. Done by the ``mbrlax`` command before any
    env is made (MuJoCo reads it once), never on import."""
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    headless_rendering()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    command = choose(argv[0], COMMANDS, "command")
    from mbrlax.errors import EnvError, RunDirError, TrainingError

    module = importlib.import_module(f"mbrlax.cli.{_COMMAND_MODULES[command]}")
    try:
        getattr(module, f"{command}_command")(argv[1:])
    except (RunDirError, FileNotFoundError, EnvError) as e:
        raise CLIError(str(e)) from None
    except TrainingError as e:  # not a usage error: the run itself failed
        print(f"mbrlax: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


__all__ = ["COMMANDS", "CLIError", "algos", "main", "usage"]
