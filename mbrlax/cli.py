"""The ``mbrlax`` command: ``train``, ``eval``, ``plot``, ``compare`` and ``sweep``.

    mbrlax train pets --env Pendulum-v1 --seed 0 --episodes 10 --run-dir runs/p0
    mbrlax eval runs/p0
    mbrlax plot runs/p0 runs/p1 --out curves.png
    mbrlax compare runs/ --threshold Pendulum-v1=-200
    mbrlax sweep --envs Pendulum-v1 mbrlax/Pendulum-v0 --seeds 0 1 2 --out runs/s1 -- --episodes 5

Options are typed config dataclasses turned into flags by tyro: ``mbrlax train pets --help``
lists them all, and a mistyped option is answered with the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tyro

COMMANDS = ("train", "resume", "eval", "plot", "compare", "sweep", "draw", "diagnose")
USAGE_HEAD = "usage: mbrlax {train,resume,eval,plot,compare,sweep,draw,diagnose} ..."
USAGE_TAIL = """  mbrlax resume DIR                  (or: mbrlax train pets --resume DIR)
  mbrlax eval DIR [--episodes 5]
  mbrlax diagnose DIR [--start 100 --horizon 350]   (a PETS / MBPO model against the truth)
  mbrlax plot DIR [DIR ...] [--out curves.png]
  mbrlax compare DIR [DIR ...] [--threshold [ENV=]VALUE ...] [--csv PATH] [--json]
  mbrlax sweep --envs ENV [ENV ...] --seeds S [S ...] --out DIR [--option FLAG=V1,V2 ...]
               [--backend auto|ray|process] [--address ADDR] [-- TRAIN ARGS ...]
  mbrlax draw --env mbrlax/BicycleTrack-v0 --out plan.png [agent.planner:mppi --fan-at 12]

A DIR given to plot or compare is a run directory or a folder holding run directories
(searched recursively); runs are grouped by algorithm and env, seeds aggregated."""


def algos() -> tuple[str, ...]:
    """The agents ``mbrlax train`` knows (:mod:`mbrlax.agents.registry`)."""
    from mbrlax.agents.registry import AGENTS

    return tuple(AGENTS)


def usage() -> str:
    """``mbrlax --help``: a line per command, and one per agent of the registry."""
    from mbrlax.agents.registry import AGENTS

    names = list(AGENTS)
    train = [f"  {entry.usage}" for entry in AGENTS.values()]
    more = f"Run `mbrlax train {names[0]} --help` (or {', '.join(f'`{n}`' for n in names[1:])})"
    more = textwrap.fill(more + " for every option.", width=88, break_on_hyphens=False)
    return "\n".join([USAGE_HEAD, "", *train, USAGE_TAIL, "", more])


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
    from mbrlax.experiment import EXPERIMENTS, run

    algo = _choose(args[0] if args else None, algos(), "algorithm")
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
    env_id = _peek_env(args, experiment.env)
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
        from mbrlax.experiment import run_many

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

    from mbrlax.logger import CONFIG_FILE, METRICS_FILE

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
    from mbrlax.checkpoint import CheckpointError
    from mbrlax.experiment import resume

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
    from mbrlax.experiment import evaluate

    a = tyro.cli(EvalArgs, args=list(args), prog="mbrlax eval")
    returns = evaluate(a.run_dir, a.episodes, a.seed)
    for i, r in enumerate(returns):
        print(f"episode {i + 1}: return {r:.1f}")
    print(f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over {len(returns)}")


@dataclasses.dataclass(frozen=True)
class DiagnoseArgs:
    """Roll the final model of a PETS or MBPO run open-loop along a held-out real episode of
    its final policy: predicted mean +- one sigma against the truth per state dimension, and
    the multi-step error against the horizon, as a PNG.

    Attributes:
        run_dir: a finished PETS or MBPO run directory.
        start: the step of the held-out episode the open-loop prediction starts from.
        horizon: steps predicted open-loop (cut at the episode's end).
        error_horizon: the multi-step error is drawn for 1 .. this many steps ahead.
        seed: seed of the held-out episode.
        out: the PNG to write (default: <run_dir>/model_diagnostics.png).
    """

    run_dir: tyro.conf.Positional[Path]
    start: int = 0
    horizon: int = 450
    error_horizon: int = 100
    seed: int = 54321
    out: Path | None = None


def diagnose_command(args: Sequence[str]) -> None:
    from mbrlax.experiment import diagnose

    a = tyro.cli(DiagnoseArgs, args=list(args), prog="mbrlax diagnose")
    try:
        path = diagnose(a.run_dir, a.start, a.horizon, a.error_horizon, a.seed, a.out)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"Wrote {path}")


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


@dataclasses.dataclass(frozen=True)
class SweepArgs:
    """Run a grid of trainings (algorithms x envs x seeds x option values) and compare them.

    Every trial is `mbrlax train ALGO --env ENV --seed S --run-dir OUT/NAME [TRAIN ARGS]` in a
    process of its own, on Ray when it is installed (a local instance unless --address names a
    cluster), else one after another. Train args for every trial follow `--`. At the end the
    table of `mbrlax compare` is printed and OUT gets sweep_summary.csv, sweep.png and
    sweep.json. Run the same command again to continue a sweep: finished trials are skipped,
    unfinished ones resumed, failed ones tried again.

      mbrlax sweep --envs Pendulum-v1 mbrlax/Pendulum-v0 --seeds 0 1 2 --out runs/sweep1
          --option agent.planner.population=100,200 -- --episodes 10 agent.planner:cem

    Attributes:
        envs: env ids, as `mbrlax train --env` takes them.
        out: the sweep's folder: one run directory per trial, trial_logs/, and the results.
        seeds: seeds of every algorithm, env and option combination.
        algos: algorithms, as `mbrlax train ALGO` takes them.
        option: an axis of the grid (repeat for more): FLAG=V1,V2,... sweeps a flag of
            `mbrlax train` (agent.planner.population=100,200; quote a value with spaces,
            'agent.model.hidden-sizes=32 32,64 64'); GROUP:NAME1,NAME2,... sweeps a
            subcommand (agent.planner:cem,icem).
        backend: ray (each trial a Ray task; needs `pip install 'mbrlax[ray]'`), process
            (trials one after another) or auto (ray when it is installed).
        address: the Ray cluster to run on (auto: the one `ray start` made here;
            ray://HOST:10001); its nodes need mbrlax installed and OUT on a shared filesystem.
        num_cpus: CPUs of the local Ray instance (default: all of this machine's).
        cpus_per_trial: CPUs Ray reserves for each trial (so num-cpus / cpus-per-trial trials
            run at once).
        gpus_per_trial: GPUs Ray reserves for each trial (a fraction shares one GPU).
        compile_cache: share a JAX compilation cache (OUT/jax_cache) between trials, so
            trials of the same shapes skip most compiling.
        threshold: eval return to reach: VALUE (any env) or ENV=VALUE, e.g. Pendulum-v1=-200.
    """

    envs: tuple[str, ...]
    out: Path
    seeds: tuple[int, ...] = (0,)
    algos: tuple[str, ...] = ("pets",)
    option: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    backend: Literal["auto", "ray", "process"] = "auto"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    compile_cache: bool = True
    threshold: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()


def sweep_command(args: Sequence[str]) -> None:
    from mbrlax.compare import parse_thresholds
    from mbrlax.sweep import SweepConfig, SweepError, parse_option, run_sweep

    args = list(args)
    train_args: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, train_args = args[:split], args[split + 1 :]
    a = tyro.cli(SweepArgs, args=args, prog="mbrlax sweep")
    names = algos()
    chosen = tuple(_choose(algo, names, "algorithm") for algo in a.algos)
    try:
        thresholds = parse_thresholds(a.threshold)
    except ValueError as e:
        raise CLIError(str(e)) from None
    try:
        options: dict[str, tuple[str, ...]] = {}
        for spec in a.option:
            key, values = parse_option(spec)
            if key in options:
                raise SweepError(f"--option {key.strip('-:')} is given twice; give it once.")
            options[key] = values
        config = SweepConfig(a.envs, a.seeds, a.out, chosen, options, tuple(train_args))
        result = run_sweep(
            config,
            backend=a.backend,
            address=a.address,
            num_cpus=a.num_cpus,
            cpus_per_trial=a.cpus_per_trial,
            gpus_per_trial=a.gpus_per_trial,
            compile_cache=a.compile_cache,
            thresholds=thresholds,
        )
    except SweepError as e:
        raise CLIError(str(e)) from None
    if result.table:
        print(result.table)
    for path in result.files:
        print(f"Wrote {path}")
    if result.failed:
        print(
            f"mbrlax: {len(result.failed)} of {len(result.outcomes)} trials failed (see above); "
            "run the same command again to retry them (finished trials are skipped).",
            file=sys.stderr,
        )
        raise SystemExit(1)


def draw_command(args: Sequence[str]) -> None:
    import jax

    from mbrlax.agents.mpc import MPCConfig, mpc_rollout
    from mbrlax.agents.mpc.presets import mpc_preset
    from mbrlax.envs import list_jax_envs, make_jax_env
    from mbrlax.planner_plots import mppi_decision_at, plot_mppi_fan, plot_predicted_vs_realised
    from mbrlax.planners import MPPI

    # Made here, with real types (this module's annotations are strings that tyro would
    # resolve in its globals), so that `mbrlax --help` does not import the planners.
    DrawArgs = dataclasses.make_dataclass(
        "DrawArgs",
        [
            ("env", str, dataclasses.field(default="mbrlax/BicycleTrack-v0")),
            ("steps", int | None, dataclasses.field(default=None)),
            ("seed", int, dataclasses.field(default=0)),
            ("out", Path, dataclasses.field(default=Path("planner.png"))),
            ("fan_at", int | None, dataclasses.field(default=None)),
            ("agent", MPCConfig, dataclasses.field(default=MPCConfig())),
        ],
        frozen=True,
    )
    DrawArgs.__doc__ = """Draw a planner at work: one MPC episode with the exact model of a
    JAX-native env, as predicted vs realised trajectories; with an MPPI planner and --fan-at T,
    also MPPI's fan of sampled futures at step T (written beside --out as <stem>-fan.png).

    Attributes:
        env: a JAX-native env id (mbrlax/Pendulum-v0, mbrlax/BicycleTrack-v0, ...).
        steps: episode length (default: the env's).
        seed: seeds the start state and the planner.
        out: the PNG to write.
        fan_at: with an MPPI planner, also draw its decision at this step.
        agent: the planner (default: the env's `mbrlax train mpc` preset).
    """

    env_id = _peek_env(list(args), DrawArgs.env)
    default = DrawArgs(env=env_id, agent=mpc_preset(env_id)[0])
    a = tyro.cli(DrawArgs, args=list(args), default=default, prog="mbrlax draw")
    if a.env not in list_jax_envs():
        raise CLIError(f"--env must be a JAX-native env, one of {', '.join(list_jax_envs())}.")
    if a.out.suffix != ".png":
        raise CLIError(f"--out must name a .png file, got {a.out}.")
    if a.fan_at is not None and not isinstance(a.agent.planner, MPPI):
        raise CLIError("--fan-at draws MPPI's samples: add agent.planner:mppi.")
    env = make_jax_env(a.env)
    steps = a.steps or env.spec.max_episode_steps
    if a.fan_at is not None and not 0 <= a.fan_at < steps:
        raise CLIError(f"--fan-at must be a step of the episode, in [0, {steps}).")
    planner = a.agent.planner.build_for(env.spec)
    reset_key, key = jax.random.split(jax.random.key(a.seed))
    start, _ = env.reset(reset_key)
    traj = jax.jit(lambda s, k: mpc_rollout(env, planner, s, k, steps))(start, key)
    name = type(a.agent.planner).__name__
    print(f"{name} on {a.env}: return {float(traj.episode_return):.1f} over {steps} steps")
    print(f"Wrote {plot_predicted_vs_realised(env, traj, a.out)}")
    if a.fan_at is not None:
        state, pstate, step_key = mppi_decision_at(env, a.agent.planner, traj, key, a.fan_at)
        fan = a.out.with_name(a.out.stem + "-fan.png")
        print(f"Wrote {plot_mppi_fan(env, state, a.agent.planner, step_key, fan, pstate=pstate)}")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    command = _choose(argv[0], COMMANDS, "command")
    from mbrlax.errors import EnvError, RunDirError, TrainingError

    try:
        commands = {
            "train": train_command,
            "resume": resume_command,
            "eval": eval_command,
            "plot": plot_command,
            "compare": compare_command,
            "sweep": sweep_command,
            "draw": draw_command,
            "diagnose": diagnose_command,
        }
        commands[command](argv[1:])
    except (RunDirError, FileNotFoundError, EnvError) as e:
        raise CLIError(str(e)) from None
    except TrainingError as e:  # not a usage error: the run itself failed
        print(f"mbrlax: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
