"""``mbrlax diagnose``, ``mbrlax plot`` and ``mbrlax compare``: looking at run directories."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import tyro

from mbrlax.cli.common import CLIError


@dataclasses.dataclass(frozen=True)
class DiagnoseArgs:
    """Roll the final model of a run open-loop along a held-out real episode of its final
    policy, as a PNG. PETS and MBPO: predicted mean +- one sigma against the truth per state
    dimension, and the multi-step error against the horizon. PlaNet and Dreamer: the latent
    state filtered over a few real observations, then the real frames (or vectors) against the
    model's imagined ones along the same actions, and the predicted rewards against the real.

    Attributes:
        run_dir: a finished PETS, MBPO, PlaNet or Dreamer run directory.
        start: the step of the held-out episode the open-loop prediction starts from.
        horizon: steps predicted open-loop (cut at the episode's end).
        error_horizon: the multi-step error is drawn for 1 .. this many steps ahead (PETS, MBPO).
        seed: seed of the held-out episode.
        context: real observations a latent model filters before imagining (PlaNet, Dreamer).
        out: the PNG to write (default: <run_dir>/model_diagnostics.png).
    """

    run_dir: tyro.conf.Positional[Path]
    start: int = 0
    horizon: int = 450
    error_horizon: int = 100
    seed: int = 54321
    context: int = 5
    out: Path | None = None


def diagnose_command(args: Sequence[str]) -> None:
    from mbrlax.training.experiment import diagnose, diagnostics_video_path

    a = tyro.cli(DiagnoseArgs, args=list(args), prog="mbrlax diagnose")
    try:
        path = diagnose(
            a.run_dir, a.start, a.horizon, a.error_horizon, a.seed, a.out, context=a.context
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"Wrote {path}")
    video = diagnostics_video_path(path)
    if video.exists() and video.stat().st_mtime >= path.stat().st_mtime - 60:
        print(f"Wrote {video} (real | imagined | difference)")


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
    from mbrlax.analysis.compare import duplicate_seeds, find_runs, group_runs, load_run

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
    from mbrlax.analysis.plotting import plot_learning_curves

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

    from mbrlax.analysis.compare import (
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
