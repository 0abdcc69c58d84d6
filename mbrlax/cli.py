"""The ``mbrlax`` command: ``train``, ``eval``, ``plot`` and ``compare``.

    mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir runs/p0
    mbrlax eval runs/p0
    mbrlax plot runs/p0 runs/p1 --out curves.png
    mbrlax compare runs/ --threshold Pendulum-v1=-200

Options are typed config dataclasses turned into flags by tyro: ``mbrlax train pets --help``
lists them all, and a mistyped option is answered with the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

COMMANDS = ("train", "eval", "plot", "compare")
ALGOS = ("pets",)
USAGE = """usage: mbrlax {train,eval,plot,compare} ...

  mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir DIR
  mbrlax eval DIR [--episodes 5]
  mbrlax plot DIR [DIR ...] [--out curves.png]
  mbrlax compare DIR [DIR ...] [--threshold [ENV=]VALUE ...] [--csv PATH] [--json]

A DIR given to plot or compare is a run directory or a folder holding run directories
(searched recursively); runs are grouped by algorithm and env, seeds aggregated.

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
    """Plot learning curves into one PNG, one colour per (algo, env).

    Several seeds are drawn as their mean eval return with a band of +- one standard error;
    a single run as its eval and (faded) train returns.

    Attributes:
        run_dirs: run directories written by `mbrlax train`, or folders holding them (recursive).
        out: the PNG to write (default: learning_curves.png in the first directory given).
        title: the plot's title.
    """

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    out: Path | None = None
    title: str | None = None


def _find_runs(paths: Sequence[Path], command: str) -> list[Path]:
    from mbrlax.compare import duplicate_seeds, find_runs, group_runs, load_run

    if not paths:
        raise CLIError(f"{command} needs at least one run directory (or a folder holding runs).")
    run_dirs = find_runs(paths)
    for (algo, env), runs in group_runs(load_run(d) for d in run_dirs).items():
        if seeds := duplicate_seeds(runs):
            print(
                f"mbrlax: warning: {algo} on {env} has several runs with seed "
                f"{', '.join(map(str, seeds))}; each is counted as a seed.",
                file=sys.stderr,
            )
    return run_dirs


def plot_command(args: Sequence[str]) -> None:
    from mbrlax.plotting import plot_learning_curves

    a = tyro.cli(PlotArgs, args=list(args), prog="mbrlax plot")
    run_dirs = _find_runs(a.run_dirs, "plot")
    out = a.out or a.run_dirs[0] / "learning_curves.png"
    print(plot_learning_curves(run_dirs, out, a.title))


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    """Compare runs: one line per (algo, env) with statistics over its seeds.

    Final eval is each run's last finite eval return, as mean +- standard error over seeds;
    best eval the mean of each run's best; steps to threshold the mean, over the runs that
    reached it, of the first env steps whose eval return was >= the threshold.

    Attributes:
        run_dirs: run directories written by `mbrlax train`, or folders holding them (recursive).
        threshold: eval return to reach: VALUE (any env) or ENV=VALUE, e.g. Pendulum-v1=-200.
        csv: also write the table as CSV to this path.
        json: print the table as JSON instead of text.
    """

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    threshold: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    csv: Path | None = None
    json: bool = False


def compare_command(args: Sequence[str]) -> None:
    import json
    import os

    from mbrlax.compare import (
        format_compare_table,
        parse_thresholds,
        summaries_to_csv,
        summarise,
    )

    a = tyro.cli(CompareArgs, args=list(args), prog="mbrlax compare")
    try:
        thresholds = parse_thresholds(a.threshold)
    except ValueError as e:
        raise CLIError(str(e)) from None
    run_dirs = _find_runs(a.run_dirs, "compare")
    try:
        summaries = summarise(run_dirs, thresholds)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if a.csv is not None:
        a.csv.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.csv.with_name(a.csv.name + ".tmp")
        tmp.write_text(summaries_to_csv(summaries))
        os.replace(tmp, a.csv)
    if a.json:
        print(json.dumps([s.as_dict() for s in summaries], indent=2))
    else:
        print(format_compare_table(summaries))
    if a.csv is not None:
        print(f"Wrote {a.csv}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command = _choose(argv[0], COMMANDS, "command")
    from mbrlax.logger import RunDirError

    try:
        commands = {
            "train": train_command,
            "eval": eval_command,
            "plot": plot_command,
            "compare": compare_command,
        }
        commands[command](argv[1:])
    except (RunDirError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None


if __name__ == "__main__":
    main()
