"""``mbrlax sweep``: a grid of trainings, one process per trial, then compared."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import tyro

from mbrlax.cli.common import CLIError, algos, choose


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
    from mbrlax.analysis.compare import parse_thresholds
    from mbrlax.training.sweep import SweepConfig, SweepError, parse_option, run_sweep

    args = list(args)
    train_args: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, train_args = args[:split], args[split + 1 :]
    a = tyro.cli(SweepArgs, args=args, prog="mbrlax sweep")
    names = algos()
    chosen = tuple(choose(algo, names, "algorithm") for algo in a.algos)
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
