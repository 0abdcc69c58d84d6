"""Latent world models on DeepMind Control: Dreamer and PlaNet (and PETS on the same budget)
against DreamerV3's published scores, from the state or from 64 x 64 pixels; and the speed of
the world model's updates and of imagination next to the matmul peak of the same process.

Budgets are in **control steps** ("frames", as the PlaNet, Dreamer and DreamerV3 papers count
them on DMC): ``--frames 100000`` at action repeat 2 is 50,000 env steps of mbrlax. Each
(task, algorithm, seed) is a trial of ``mbrlax sweep`` with the algorithm's defaults (its
preset), an ordinary run directory under ``--out`` (default ``~/mbrlax-bench/world_models``,
outside the work tree): rerunning the same command continues unfinished runs and skips finished
ones. The results file ``benchmarks/results/world_models-<task>[-pixels][-repeat<R>].json``
(``-repeat<R>`` for an action repeat other than DreamerV3's 2) holds per-seed curves and the
table; ``--merge`` keeps the seeds an earlier results file already has (each
with the commit it was measured at), so seeds measured in different sessions add up.
``--variant NAME`` with training arguments after ``--`` measures the algorithm with other
settings: its own run directories, results file (``...-<task>-NAME.json``) and row.

    python benchmarks/world_models.py --tasks cartpole-swingup --algos dreamer --seeds 0 1 2
    python benchmarks/world_models.py --tasks cartpole-swingup --pixels --seeds 0
    python benchmarks/world_models.py --tasks pendulum-swingup --seeds 0 1 2 \\
        --variant reinforce -- --agent.actor_gradient reinforce
    python benchmarks/world_models.py --tasks cartpole-swingup --algos planet pets \\
        --action-repeat 8 --seeds 0 1 2       # PlaNet's paper's action repeat on cartpole
    python benchmarks/world_models.py --tasks pendulum-swingup --algos planet pets \\
        --action-repeat 4 --seeds 0 1 2       # PlaNet's repeat for the tasks it did not single out
    python benchmarks/world_models.py --throughput-only
    python benchmarks/world_models.py --tasks cartpole-swingup --seeds 0 --frames 4000 \\
        --out /tmp/wm-smoke --results-dir /tmp/results          # a smoke run

Anchors: DreamerV3's released scores (Hafner et al. 2023; ``benchmarks/reference/
dreamerv3_dmc.json``, action repeat 2, its steps counted in frames too) at 100k frames, proprio
(5 seeds): cartpole-swingup 527.7, pendulum-swingup 830.4, reacher-easy 693.4; pixels (10
seeds): cartpole-swingup 597.3 at its last evaluation before 100k (96k frames; the issue quotes
599). Every summary table has DreamerV3 as a row with the same statistics as our runs, and
every plot its curves, dashed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.dreamer import Dreamer, DreamerConfig
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import EnvSpec
from mbrlax.training.bench import (
    Table,
    add_sweep_arguments,
    mean_se_text,
    per_seed_text,
    run_seeds,
    slug,
    split_train_args,
    sweep_settings,
    write_results,
    write_seed_results,
)

BENCHMARK = "world_models"
REFERENCE = Path(__file__).with_name("reference") / "dreamerv3_dmc.json"
"""DreamerV3's released DMC curves up to 100k frames (``benchmarks/reference/dreamerv3_dmc.py``
extracts them from its repository's score files): the anchors, and the same statistics of them
as of our runs."""
DREAMERV3 = "DreamerV3 (released scores)"


CHECKPOINT_EVERY = {"dreamer": 10000, "pixels": 1000}
"""Env steps between checkpoints (5,000 for the others): about every 20-30 minutes of one core
(Dreamer from the state trains 10,000 env steps in ~25 minutes; PlaNet and PETS plan each
action, ~2x slower; a pixel run ~15x slower), so that a stopped session loses little.
(Changing a value makes an existing sweep directory of that algorithm refuse to continue: its
fixed arguments are checked.)"""


def env_id(task: str, action_repeat: int, pixels: int | None) -> str:
    query = f"action_repeat={action_repeat}" + (f"&pixels={pixels}" if pixels else "")
    return f"dmc/{task}?{query}"


def train(
    settings, task: str, algo: str, seeds, frames: int, repeat: int, pixels, variant: str | None
) -> list[Path]:
    """The run directories of ``algo`` (its ``variant``, if named) on ``task`` for ``frames``
    control steps, one per seed."""
    steps = frames // repeat
    every = CHECKPOINT_EVERY.get("pixels" if pixels else algo, 5000)
    fixed = [
        "--total-steps", str(steps), "--episodes", str(10**6), "--no-progress",
        "--eval-every", "5", "--checkpoint-every", str(every),
    ]  # fmt: skip
    eid = env_id(task, repeat, pixels)
    group = f"{slug(eid)}-{algo}{'-' + variant if variant else ''}-{frames}frames"
    return run_seeds(settings, group, algo, [eid], seeds, fixed)


def results_name(task: str, pixels, repeat: int, variant: str | None) -> str:
    """``world_models-<task>[-pixels][-repeat<R>][-<variant>]``: action repeat 2 (DreamerV3's)
    is unnamed; another (PlaNet's paper used 8 on cartpole) gets its own file."""
    return (
        f"{BENCHMARK}-{task}" + ("-pixels" if pixels else "")
        + (f"-repeat{repeat}" if repeat != 2 else "") + (f"-{variant}" if variant else "")
    )  # fmt: skip


def dreamerv3_runs(task: str, pixels: bool, repeat: int, frames: int) -> list[dict]:
    """DreamerV3's released curves of ``task`` up to ``frames`` as results-file runs (its
    frames divided by ``repeat``: mbrlax's env steps), none where it has no such curve."""
    curves = json.loads(REFERENCE.read_text())["curves"]
    key = f"{'pixels' if pixels else 'proprio'}/{task}"
    env = env_id(task, repeat, 64 if pixels else None)
    runs = []
    for r in curves.get(key, []):
        keep = [i for i, f in enumerate(r["frames"]) if f <= frames]
        if keep:
            runs.append({
                "series": DREAMERV3, "algo": DREAMERV3, "env": env,
                "seed": r["seed"], "env_steps": [r["frames"][i] / repeat for i in keep],
                "eval_return": [r["returns"][i] for i in keep], "wall_seconds": None,
            })  # fmt: skip
    return runs


def summary_table(runs: list[dict], reference: list[dict], frames: int, repeat: int) -> Table:
    """Per algorithm over seeds, and DreamerV3's released scores in the same columns: the
    last evaluation, and the mean of every evaluation in the last fifth of the budget (80k-100k
    frames of 100k: fewer single-episode points for DreamerV3 than for us, the same window), in
    returns over the task's 1,000 control steps."""
    low = 0.8 * frames / repeat
    rows = []
    for algo in [*dict.fromkeys(r["series"] for r in runs), DREAMERV3]:
        rs = [r for r in [*runs, *reference] if r["series"] == algo]
        if not rs:
            continue
        last = [r["eval_return"][-1] for r in rs]
        window = [
            float(np.mean([v for s, v in zip(r["env_steps"], r["eval_return"], strict=True)
                           if s >= low]))
            for r in rs
        ]  # fmt: skip
        walls = [r["wall_seconds"] / 3600 for r in rs if r["wall_seconds"] is not None]
        rows.append([
            algo, len(rs), round(float(np.mean([r["env_steps"][-1] * repeat for r in rs]))),
            mean_se_text(last), mean_se_text(window), per_seed_text(last),
            round(float(np.mean(walls)), 2) if walls else None,
        ])  # fmt: skip
    return Table.of(
        [
            "algo", "seeds", "control steps", "last eval",
            f"mean of evals at {0.8 * frames / 1000:g}k-{frames / 1000:g}k control steps",
            "last eval per seed", "wall hours per seed",
        ],
        rows,
    )  # fmt: skip


# -------------------------------------------------------------------------- throughput


def throughput(spec: EnvSpec, config: DreamerConfig, repeats: int = 2) -> dict[str, float]:
    """Dreamer's training steps per second on ``spec`` (each: one world-model step on
    ``batch_size`` x ``batch_length`` replayed steps and ``horizon`` imagined steps from each of
    their states), and the replayed and imagined steps per second that makes."""
    agent = Dreamer(config, spec)
    state = agent.init(jax.random.key(0))
    n = 4 * config.batch_size * config.batch_length
    rng = np.random.default_rng(0)

    def obs() -> np.ndarray:
        if spec.is_image:
            return rng.integers(0, 256, spec.obs_shape, np.uint8)
        return rng.normal(size=spec.obs_shape).astype(np.float32)

    rows = [
        Transition(obs(), rng.uniform(-1, 1, spec.action_shape).astype(np.float32),
                   np.float32(0.0), obs(), np.bool_(False))
        for _ in range(n)
    ]  # fmt: skip
    buffer = ReplayBuffer.create(rows[0], n).add_batch(jax.tree.map(lambda *x: jnp.stack(x), *rows))
    state, metrics = agent.update(state, buffer, jax.random.key(1))  # compile
    jax.block_until_ready(metrics)
    best = float("inf")
    for i in range(repeats):
        t = time.perf_counter()
        state, metrics = agent.update(state, buffer, jax.random.key(2 + i))
        jax.block_until_ready(metrics)
        best = min(best, time.perf_counter() - t)
    per_s = config.train_steps / best
    starts = config.batch_size * config.batch_length
    return {
        "train_steps_per_s": per_s,
        "replayed_steps_per_s": per_s * starts,
        "imagined_steps_per_s": per_s * starts * config.horizon,
    }


def throughput_table() -> tuple[Table, dict]:
    peak = matmul_peak_gflops()
    config = DreamerConfig(train_steps=5)
    state = EnvSpec("cartpole", (5,), "continuous", (1,), (-1.0,), (1.0,))
    pixels = EnvSpec("cartpole", (64, 64, 3), "continuous", (1,), (-1.0,), (1.0,))
    reinforce = dataclasses.replace(config, actor_gradient="reinforce")
    cases = {
        "DMC cartpole state (obs 5, action 1)": (state, config),
        "the same, actor_gradient reinforce": (state, reinforce),
        "DMC pixels 64 x 64 (action 1)": (pixels, config),
    }
    rows, raw = [], {}
    for name, (spec, cfg) in cases.items():
        t = throughput(spec, cfg)
        raw[name] = t
        rows.append([
            name, round(t["train_steps_per_s"], 2), round(t["replayed_steps_per_s"]),
            round(t["imagined_steps_per_s"]), round(peak, 1),
        ])  # fmt: skip
        print(name, t, flush=True)
    table = Table.of(
        [
            "Dreamer (defaults unless said) on", "training steps / s", "replayed steps / s",
            "imagined steps / s", "matmul peak GFLOP/s (same process)",
        ],
        rows,
    )  # fmt: skip
    return table, {"matmul_peak_gflops": peak, "throughput": raw}


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["cartpole-swingup"])
    parser.add_argument("--algos", nargs="+", default=["dreamer"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=100_000, help="control steps per run")
    parser.add_argument("--action-repeat", type=int, default=2)
    parser.add_argument("--pixels", action="store_true", help="64 x 64 frames, not the state")
    parser.add_argument("--merge", action="store_true", help="keep an earlier file's seeds")
    parser.add_argument(
        "--variant", metavar="NAME",
        help="a name for runs with other training arguments (after --): their own run "
        "directories, results file (world_models-<task>-NAME) and row (<algo> (NAME))",
    )  # fmt: skip
    parser.add_argument("--throughput-only", action="store_true")
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    if args.variant and not train_args:
        parser.error("--variant names runs with other training arguments: give them after --.")
    if args.throughput_only:
        table, extra = throughput_table()
        write_results(f"{BENCHMARK}-throughput", {"throughput": table}, extra=extra,
                      results_dir=args.results_dir, argv=argv)  # fmt: skip
        return
    settings = sweep_settings(args, BENCHMARK, train_args)
    pixels = 64 if args.pixels else None
    for task in args.tasks:
        dirs = [
            d
            for algo in args.algos
            for d in train(
                settings, task, algo, args.seeds, args.frames, args.action_repeat, pixels,
                args.variant,
            )
        ]  # fmt: skip
        reference = dreamerv3_runs(task, bool(pixels), args.action_repeat, args.frames)
        write_seed_results(
            results_name(task, pixels, args.action_repeat, args.variant), dirs,
            lambda runs, ref=reference: summary_table(runs, ref, args.frames, args.action_repeat),
            args.merge,
            extra={
                "frames": args.frames, "action_repeat": args.action_repeat, "pixels": pixels,
                "reference_curves": reference, "reference_source": str(REFERENCE.name),
            },
            results_dir=args.results_dir, argv=argv, variant=args.variant,
        )  # fmt: skip


if __name__ == "__main__":
    main()
