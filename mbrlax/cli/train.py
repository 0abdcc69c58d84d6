"""``mbrlax train``, ``mbrlax resume`` and ``mbrlax eval``: a run, continued, evaluated."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tyro

from mbrlax.cli.common import CLIError, algos, choose, format_table, peek_env

RUN_FLAGS = """
Run directory flags (read before the options above):
  --resume DIR   continue the run in DIR from its newest usable checkpoint, with the config it
                 was started with (same as `mbrlax resume DIR`); no other options.
  --overwrite    replace what --run-dir holds if it is an earlier mbrlax run."""


def _pop_flag(args: list[str], flag: str, takes_value: bool) -> str | bool | None:
    """Remove ``flag`` (and its value) from ``args``; its value, True, or None if absent."""
    for i, arg in enumerate(args):
        if arg == flag:
            if not takes_value:
                del args[i]
                return True
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise CLIError(f"{flag} needs a value: {flag} DIR.")
            value = args[i + 1]
            del args[i : i + 2]
            return value
        if takes_value and arg.startswith(flag + "="):
            del args[i]
            return arg.split("=", 1)[1]
    return None


def _print_result(result) -> None:
    print(
        format_table(
            result.rows,
            [
                "episode",
                "env_steps",
                "train_return",
                "train_episode_length",
                "eval_return",
                "act_ms",
                "wall_seconds",
            ],
        )
    )
    print(f"Learning curve: {result.run_dir / 'learning_curve.png'}")


def train_command(args: Sequence[str]) -> None:
    from mbrlax.training.experiment import EXPERIMENTS, run

    algo = choose(args[0] if args else None, algos(), "algorithm")
    experiment = EXPERIMENTS[algo]
    args = list(args[1:])
    resume_dir = _pop_flag(args, "--resume", takes_value=True)
    overwrite = bool(_pop_flag(args, "--overwrite", takes_value=False))
    if resume_dir is not None:
        if args or overwrite:
            raise CLIError(
                f"--resume continues a run with the config it was started with; drop the "
                f"other options ({' '.join(args) or '--overwrite'}), or start a new run "
                "without --resume."
            )
        resume_command([resume_dir])
        return
    env_id = peek_env(args, experiment.env)
    default = experiment.preset(env_id)
    shown = (
        f"\n\nThe defaults shown are those for --env {env_id} (its preset, or the general ones)."
    )
    exp = tyro.cli(
        experiment,
        args=args,
        default=default,
        prog=f"mbrlax train {algo}",
        description=(experiment.__doc__ or "") + RUN_FLAGS + shown,
    )
    try:
        exp.check()
    except ValueError as e:
        raise CLIError(str(e)) from None
    if exp.run_dir is None:
        exp = dataclasses.replace(exp, run_dir=exp.default_run_dir())
    if overwrite:
        _clear_run_dir(Path(exp.run_dir))
    runs = getattr(exp, "runs", 1)
    if runs > 1:
        from mbrlax.training.experiment import run_many

        print(
            f"Training {algo.upper()} on {exp.env}, {runs} runs (seeds {exp.seed}.."
            f"{exp.seed + runs - 1}) as one compiled computation -> {exp.run_dir}"
        )
        _print_many(run_many(exp), Path(exp.run_dir))
        return
    print(f"Training {algo.upper()} on {exp.env} (seed {exp.seed}) -> {exp.run_dir}")
    _print_result(run(exp))


def _print_many(results, run_dir: Path) -> None:
    """Mean and spread over runs of each episode's length and return (a few episodes)."""
    lengths = np.array([[r["train_episode_length"] for r in res.rows] for res in results])
    returns = np.array([[r["train_return"] for r in res.rows] for res in results])
    episodes = sorted(
        {e for e in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500) if e <= lengths.shape[1]}
        | {lengths.shape[1]}
    )
    rows = [
        {
            "episode": e,
            "mean_length": float(lengths[:, e - 1].mean()),
            "min_length": int(lengths[:, e - 1].min()),
            "max_length": int(lengths[:, e - 1].max()),
            "mean_return": float(returns[:, e - 1].mean()),
        }
        for e in episodes
    ]
    print(format_table(rows, ["episode", "mean_length", "min_length", "max_length", "mean_return"]))
    print(f"Learning curves: {run_dir / 'learning_curve.png'} (one run per seed<k>/ folder)")


def _clear_run_dir(run_dir: Path) -> None:
    """For --overwrite: empty ``run_dir`` if it holds an mbrlax run, refuse anything else."""
    import shutil

    from mbrlax.training.logger import CONFIG_FILE, METRICS_FILE

    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise CLIError(f"--run-dir {run_dir} is a file; pass a directory.")
    if not ((run_dir / CONFIG_FILE).exists() or (run_dir / METRICS_FILE).exists()):
        if any(run_dir.iterdir()):
            raise CLIError(
                f"--overwrite refuses to empty {run_dir}: it is not an mbrlax run directory "
                f"(no {CONFIG_FILE}). Choose another --run-dir."
            )
        return
    shutil.rmtree(run_dir)


@dataclasses.dataclass(frozen=True)
class ResumeArgs:
    """Continue a run from its newest usable checkpoint, with the config it was started with.

    Attributes:
        run_dir: a directory written by `mbrlax train` (a killed or finished run).
    """

    run_dir: tyro.conf.Positional[Path]


def resume_command(args: Sequence[str]) -> None:
    from mbrlax.training.checkpoint import CheckpointError
    from mbrlax.training.experiment import resume

    a = tyro.cli(ResumeArgs, args=list(args), prog="mbrlax resume")
    print(f"Resuming {a.run_dir}")
    try:
        result = resume(a.run_dir)
    except CheckpointError as e:
        raise CLIError(
            f"{e}. The files are left as they are; start a new run, or restore a checkpoint "
            "from a backup."
        ) from None
    _print_result(result)


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
    from mbrlax.training.experiment import evaluate

    a = tyro.cli(EvalArgs, args=list(args), prog="mbrlax eval")
    returns = evaluate(a.run_dir, a.episodes, a.seed)
    for i, r in enumerate(returns):
        print(f"episode {i + 1}: return {r:.1f}")
    print(f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over {len(returns)}")
