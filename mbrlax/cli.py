"""The ``mbrlax`` command: ``train``, ``eval`` and ``plot``.

    mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir runs/p0
    mbrlax eval runs/p0
    mbrlax plot runs/p0 runs/p1 --out curves.png

Options are typed config dataclasses turned into flags by tyro: ``mbrlax train pets --help``
lists them all, and a mistyped option is answered with the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tyro

COMMANDS = ("train", "eval", "plot")
ALGOS = ("pets",)
USAGE = """usage: mbrlax {train,eval,plot} ...

  mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir DIR
  mbrlax eval DIR [--episodes 5]
  mbrlax plot DIR [DIR ...] [--out curves.png]

Run `mbrlax train pets --help` for every option."""


class CLIError(SystemExit):
    """A usage error: the message goes to stderr and the exit status is 2."""

    def __init__(self, message: str):
        print(f"mbrlax: error: {message}", file=sys.stderr)
        super().__init__(2)


def _choose(word: str | None, valid: Sequence[str], what: str) -> str:
    if word in valid:
        return word
    close = difflib.get_close_matches(word or "", valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise CLIError(f"unknown {what} {word!r}; valid: {', '.join(valid)}.{hint}")


def _peek_env(args: Sequence[str], default: str) -> str:
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


def train_command(args: Sequence[str]) -> None:
    from mbrlax.experiment import PETSExperiment, run

    algo = _choose(args[0] if args else None, ALGOS, "algorithm")
    args = list(args[1:])
    default = PETSExperiment.preset(_peek_env(args, PETSExperiment.env))
    exp = tyro.cli(
        PETSExperiment,
        args=args,
        default=default,
        prog=f"mbrlax train {algo}",
        description=PETSExperiment.__doc__,
    )
    if exp.run_dir is None:
        exp = dataclasses.replace(exp, run_dir=exp.default_run_dir())
    print(f"Training PETS on {exp.env} (seed {exp.seed}) -> {exp.run_dir}")
    result = run(exp)
    print(
        format_table(
            result.rows,
            ["episode", "env_steps", "train_return", "eval_return", "act_ms", "wall_seconds"],
        )
    )
    print(f"Learning curve: {result.run_dir / 'learning_curve.png'}")


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate the final agent of a run directory.

    Attributes:
        run_dir: a directory written by `mbrlax train`.
        episodes: evaluation episodes.
        seed: seed of the evaluation episodes.
    """

    run_dir: tyro.conf.Positional[Path]
    episodes: int = 5
    seed: int = 12345


def eval_command(args: Sequence[str]) -> None:
    from mbrlax.experiment import evaluate

    a = tyro.cli(EvalArgs, args=list(args), prog="mbrlax eval")
    returns = evaluate(a.run_dir, a.episodes, a.seed)
    for i, r in enumerate(returns):
        print(f"episode {i + 1}: return {r:.1f}")
    print(f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over {len(returns)}")


@dataclasses.dataclass(frozen=True)
class PlotArgs:
    """Plot the learning curves of one or more run directories into one PNG.

    Attributes:
        run_dirs: directories written by `mbrlax train`.
        out: the PNG to write (default: learning_curves.png in the first run directory).
        title: the plot's title.
    """

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    out: Path | None = None
    title: str | None = None


def plot_command(args: Sequence[str]) -> None:
    from mbrlax.plotting import plot_learning_curves

    a = tyro.cli(PlotArgs, args=list(args), prog="mbrlax plot")
    if not a.run_dirs:
        raise CLIError("plot needs at least one run directory.")
    out = a.out or a.run_dirs[0] / "learning_curves.png"
    print(plot_learning_curves(a.run_dirs, out, a.title))


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command = _choose(argv[0], COMMANDS, "command")
    from mbrlax.logger import RunDirError

    try:
        {"train": train_command, "eval": eval_command, "plot": plot_command}[command](argv[1:])
    except (RunDirError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None


if __name__ == "__main__":
    main()
