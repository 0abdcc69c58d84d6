"""MBPO against SAC on the same seeds and machine: return against env steps, wall time, speed.

Each (env, algorithm, seed) is a trial of ``mbrlax sweep`` (Ray when installed, else one after
another): an ordinary run directory of the presets of ``mbrlax train sac`` / ``mbrlax train
mbpo`` (lengths from ``--total-steps`` / ``--steps``) under ``--out`` (default
``~/mbrlax-bench/mbpo_vs_sac``, outside the work tree), so ``mbrlax plot``, ``mbrlax compare``
and ``mbrlax diagnose`` work on them afterwards, and rerunning the same command continues the
runs (finished ones are skipped, unfinished ones resumed from their newest checkpoint).

Everything is read back from the run directories. Per run: the last evaluation and the mean of
the last five, the best, the env steps at which the evaluation first reached the env's
threshold, the last evaluation at or before each of ``--at-steps``, wall seconds and env steps
per second. Then, per seed, the env steps MBPO needed to reach the return SAC ended with (the
first step at which the mean of MBPO's last 5 evaluations reaches the mean of SAC's last 5;
Hopper's headline number). Written to ``benchmarks/results/mbpo_vs_sac-<ENV>.json`` (tables
``summary``, ``per_seed``, ``mbpo_reaches_sac``). With ``--throughput`` it also times the hot
loops against the float32 matmul peak measured in the same process: SAC gradient steps per
second (batch 256, 2 x 256 networks) and branched-rollout transitions per second (the paper's
7 x 4 x 200 ensemble, 100,000 particles), into ``mbpo_vs_sac-throughput.json``;
``--throughput-only`` times them without running or reading any learning run.

Targets: InvertedPendulum-v5, MBPO >= 950 by 10,000 env steps; Hopper-v5, MBPO reaches SAC's
return at 100,000 steps within 25,000; HalfCheetah-v5, the return of both at 50,000.

    python benchmarks/mbpo_vs_sac.py --envs InvertedPendulum-v5 --throughput
    python benchmarks/mbpo_vs_sac.py --throughput-only       # the hot loops' speed alone
    python benchmarks/mbpo_vs_sac.py --envs Hopper-v5 --steps sac=100000 mbpo=50000 \\
        --at-steps 25000 50000 100000
    python benchmarks/mbpo_vs_sac.py --seeds 0 --total-steps 2000 --skip-diagnose \\
        --out /tmp/mbpo-smoke --results-dir /tmp/results        # a smoke run
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.mbpo import MBPO
from mbrlax.agents.sac import SAC, SACConfig
from mbrlax.analysis.compare import load_run
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_env
from mbrlax.training.bench import (
    SweepSettings,
    Table,
    add_sweep_arguments,
    curve_record,
    mean_se_text,
    per_seed_text,
    run_seeds,
    slug,
    split_train_args,
    sweep_settings,
    write_results,
)
from mbrlax.training.experiment import EXPERIMENTS, diagnose

BENCHMARK = "mbpo_vs_sac"
THRESHOLDS = {"InvertedPendulum-v5": 950.0, "Hopper-v5": 2000.0, "HalfCheetah-v5": 3000.0}
DEFAULT_STEPS = {
    "InvertedPendulum-v5": {"sac": 10_000, "mbpo": 10_000},
    "Hopper-v5": {"sac": 100_000, "mbpo": 25_000},
    "HalfCheetah-v5": {"sac": 50_000, "mbpo": 50_000},
    "Walker2d-v5": {"sac": 50_000, "mbpo": 50_000},
}
AT_STEPS = {  # default --at-steps per env
    "InvertedPendulum-v5": [5_000, 10_000],
    "Hopper-v5": [25_000, 50_000, 100_000],
    "HalfCheetah-v5": [14_000, 50_000],
    "Walker2d-v5": [25_000, 50_000],
}


def train(
    settings: SweepSettings,
    env_id: str,
    algo: str,
    seeds: Sequence[int],
    steps: int,
    checkpoint_every: int | None,
) -> list[Path]:
    """The run directories of ``algo`` (its preset) on ``env_id`` for ``steps`` env steps,
    one per seed, through the sweep (resumed where a run is unfinished)."""
    fixed = ["--total-steps", str(steps), "--episodes", str(10**6), "--no-progress"]
    if checkpoint_every is not None:  # long runs: lose less when the machine goes away
        fixed += ["--checkpoint-every", str(checkpoint_every)]
    group = f"{slug(env_id)}-{algo}-{steps}steps"
    return run_seeds(settings, group, algo, [env_id], seeds, fixed)


def eval_at(steps: np.ndarray, returns: np.ndarray, at: int) -> float | None:
    """The last evaluation at or before env step ``at``; None when the run ended before it."""
    if steps.size == 0 or steps[-1] < at:
        return None
    before = np.flatnonzero(steps <= at)
    return float(returns[before[-1]]) if before.size else None


def summarise_run(run_dir: Path, env_id: str, algo: str, at_steps: Sequence[int]) -> dict:
    """What the tables show of one run, read from its run directory."""
    run = load_run(run_dir)
    steps, returns = run.evals
    threshold = THRESHOLDS.get(env_id, np.inf)
    hit = steps[returns >= threshold]
    env_steps = int(run.env_steps[-1])
    wall = float(run.wall_seconds[-1])
    return {
        "env": env_id,
        "algo": algo,
        "seed": run.seed,
        "env_steps": env_steps,
        "last_eval": float(returns[-1]),
        "last5_eval": float(returns[-5:].mean()),
        "best_eval": float(returns.max()),
        "steps_to_threshold": int(hit[0]) if hit.size else None,
        "at_steps": {str(a): eval_at(steps, returns, a) for a in at_steps},
        "wall_s": wall,
        "steps_per_s": env_steps / max(wall, 1e-9),
        "curve": [(int(s), float(v)) for s, v in zip(steps, returns, strict=True)],
        "run_dir": str(run_dir),
    }


def steps_to_reach(curve: list[tuple[int, float]], target: float, window: int = 5) -> int | None:
    """First env step at which the mean of the last ``window`` evaluations reaches ``target``."""
    values = np.array([v for _, v in curve])
    for i in range(len(curve)):
        if values[max(0, i - window + 1) : i + 1].mean() >= target:
            return curve[i][0]
    return None


def env_tables(env_id: str, results: list[dict], at_steps: Sequence[int]) -> dict[str, Table]:
    """The tables of one env: per algorithm over seeds, per seed, and MBPO against SAC."""
    threshold = THRESHOLDS.get(env_id)
    thr = f"{threshold:g}" if threshold is not None else "threshold"
    at_cols = [f"eval at {a:,} steps" for a in at_steps]
    summary = []
    for algo in dict.fromkeys(r["algo"] for r in results):
        rs = [r for r in results if r["algo"] == algo]
        summary.append(
            [
                algo.upper(),
                len(rs),
                round(float(np.mean([r["env_steps"] for r in rs]))),
                mean_se_text([r["last_eval"] for r in rs]),
                mean_se_text([r["last5_eval"] for r in rs]),
                mean_se_text([r["best_eval"] for r in rs]),
                per_seed_text([r["steps_to_threshold"] for r in rs]),
                *(mean_se_text([r["at_steps"][str(a)] for r in rs]) for a in at_steps),
                round(float(np.mean([r["wall_s"] for r in rs]))),
            ]
        )
    columns = [
        "algo",
        "seeds",
        "env steps",
        "last eval",
        "mean of last 5",
        "best",
        f"first eval >= {thr} (per seed)",
        *at_cols,
        "wall s",
    ]
    per_seed = [
        [
            r["algo"],
            r["seed"],
            r["env_steps"],
            round(r["last_eval"], 1),
            round(r["last5_eval"], 1),
            round(r["best_eval"], 1),
            r["steps_to_threshold"],
            *(
                None if r["at_steps"][str(a)] is None else round(r["at_steps"][str(a)], 1)
                for a in at_steps
            ),
            round(r["wall_s"]),
            round(r["steps_per_s"], 1),
        ]
        for r in results
    ]
    per_seed_columns = [
        "algo",
        "seed",
        "env steps",
        "last eval",
        "mean of last 5",
        "best",
        f"first eval >= {thr}",
        *at_cols,
        "wall s",
        "env steps / s",
    ]
    tables = {
        "summary": Table.of(columns, summary),
        "per_seed": Table.of(per_seed_columns, per_seed),
    }
    reach = []
    for seed in dict.fromkeys(r["seed"] for r in results):
        by = {r["algo"]: r for r in results if r["seed"] == seed}
        if {"sac", "mbpo"} <= set(by):
            target = by["sac"]["last5_eval"]
            reached = steps_to_reach(by["mbpo"]["curve"], target)
            reach.append(
                [seed, by["sac"]["env_steps"], round(target, 1), reached, by["mbpo"]["env_steps"]]
            )
            print(
                f"  seed {seed}: SAC's final return (last 5 evals) {target:.1f} at "
                f"{by['sac']['env_steps']} steps; MBPO reached it at "
                f"{reached if reached is not None else 'never'} "
                f"(of {by['mbpo']['env_steps']})"
            )
    if reach:
        tables["mbpo_reaches_sac"] = Table.of(
            [
                "seed",
                "SAC env steps",
                "SAC's final return (mean of last 5 evals)",
                "MBPO env steps to reach it (mean of its last 5 evals)",
                "MBPO env steps",
            ],
            reach,
        )
    return tables


def mlp_macs(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def throughput() -> tuple[Table, dict]:
    """SAC gradient steps and branched-rollout transitions per second, against the peak:
    the table and the peak (GFLOP/s)."""
    spec = make_env("Hopper-v5").spec
    d, a = spec.obs_dim, spec.action_dim
    example = Transition(np.zeros(d, np.float32), np.zeros(a, np.float32), np.float32(0),
                         np.zeros(d, np.float32), np.bool_(False))  # fmt: skip
    data = jax.tree.map(lambda x: jax.random.normal(jax.random.key(0), (50_000,) + x.shape)
                        .astype(x.dtype), example)  # fmt: skip
    buffer = ReplayBuffer.create(example, 50_000).add_batch(data)
    peak = matmul_peak_gflops()

    sac = SAC(SACConfig(updates_per_step=20), spec)
    state = sac.init(jax.random.key(1))
    state, _ = sac.update(state, buffer, jax.random.key(2))
    jax.block_until_ready(state)
    best = np.inf
    for i in range(5):
        t0 = time.perf_counter()
        state, _ = sac.update(state, buffer, jax.random.key(3 + i))
        jax.block_until_ready(state)
        best = min(best, (time.perf_counter() - t0) / 20)
    h = SACConfig().hidden_sizes
    actor, twin = mlp_macs((d, *h, 2 * a)), 2 * mlp_macs((d + a, *h, 1))
    # Critic step: actor on s', target twin, twin forward and backward (2x); actor step: actor
    # forward and backward (2x), twin forward and its input-gradient pass.
    flops = 2 * 256 * (4 * actor + 6 * twin)
    sac_gflops = flops / best / 1e9

    mbpo = MBPO(EXPERIMENTS["mbpo"].preset("Hopper-v5").agent, spec)
    mstate = mbpo.init(jax.random.key(4))
    mstate = mstate._replace(model_buffer=mbpo.imagine(mstate, buffer, jax.random.key(5), 1))
    jax.block_until_ready(mstate)
    roll = np.inf
    for i in range(3):
        t0 = time.perf_counter()
        mstate = mstate._replace(
            model_buffer=mbpo.imagine(mstate, buffer, jax.random.key(6 + i), 1)
        )
        jax.block_until_ready(mstate)
        roll = min(roll, time.perf_counter() - t0)
    n = mbpo.config.rollout_batch_size
    member = mlp_macs((d + a, *mbpo.config.model.hidden_sizes, 2 * (d + 1)))
    roll_gflops = 2 * n * (member + actor) / roll / 1e9
    print(f"\nfloat32 matmul peak in this process: {peak:.1f} GFLOP/s")
    print(f"{'hot loop':44} {'per second':>12} {'GFLOP/s':>8} {'of peak':>8}")
    print(f"{'SAC gradient steps (batch 256, 2 x 256)':44} {1 / best:12.1f} "
          f"{sac_gflops:8.1f} {sac_gflops / peak:8.2f}")  # fmt: skip
    print(f"{'rollout transitions (7 x 4 x 200, 100k)':44} {n / roll:12.0f} "
          f"{roll_gflops:8.1f} {roll_gflops / peak:8.2f}")  # fmt: skip
    table = Table.of(
        [
            f"hot loop (same process as a {peak:.1f} GFLOP/s matmul)",
            "per second",
            "GFLOP/s",
            "fraction of matmul peak",
        ],
        [
            [
                "SAC gradient steps (batch 256, 2 x 256 networks)",
                round(1 / best),
                round(sac_gflops, 1),
                round(sac_gflops / peak, 2),
            ],
            [
                f"MBPO rollout transitions (7 x 4 x 200 ensemble, {n:,} particles)",
                round(n / roll),
                round(roll_gflops, 1),
                round(roll_gflops / peak, 2),
            ],
        ],
    )
    return table, {"peak_gflops": round(peak, 1)}


def main(argv: Sequence[str] | None = None) -> None:
    own, train_args = split_train_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["InvertedPendulum-v5"])
    parser.add_argument("--algos", nargs="+", default=["sac", "mbpo"], choices=["sac", "mbpo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--total-steps",
        type=int,
        default=None,
        help="env steps of every run (default: per env and algorithm)",
    )
    parser.add_argument("--steps", nargs="*", default=[], help="ALGO=STEPS overrides")
    parser.add_argument(
        "--at-steps",
        nargs="*",
        type=int,
        default=None,
        help="report the last evaluation at or before each of these env steps (default: per env)",
    )
    parser.add_argument("--throughput", action="store_true", help="also time the hot loops")
    parser.add_argument(
        "--throughput-only", action="store_true", help="time the hot loops, run nothing else"
    )
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument(
        "--skip-diagnose", action="store_true", help="do not draw MBPO's model diagnostics"
    )
    add_sweep_arguments(parser, BENCHMARK)
    args = parser.parse_args(own)
    settings = sweep_settings(args, BENCHMARK, train_args)
    overrides = {k: int(v) for k, v in (s.split("=") for s in args.steps)}
    header = (
        f"{'env':20} {'algo':5} {'seed':>4} {'steps':>7} {'last eval':>9} {'last 5':>8} "
        f"{'best':>8} {'steps to thr':>12} {'wall s':>8} {'steps/s':>8}"
    )
    for env_id in [] if args.throughput_only else args.envs:
        at_steps = args.at_steps if args.at_steps is not None else AT_STEPS.get(env_id, [])
        results = []
        print(header, flush=True)
        for algo in args.algos:
            default = args.total_steps or DEFAULT_STEPS.get(env_id, {}).get(algo, 50_000)
            steps = overrides.get(algo, default)
            dirs = train(settings, env_id, algo, args.seeds, steps, args.checkpoint_every)
            for run_dir in dirs:
                r = summarise_run(run_dir, env_id, algo, at_steps)
                results.append(r)
                thr = "-" if r["steps_to_threshold"] is None else str(r["steps_to_threshold"])
                print(
                    f"{env_id:20} {algo:5} {r['seed']:4d} {r['env_steps']:7d} "
                    f"{r['last_eval']:9.1f} {r['last5_eval']:8.1f} {r['best_eval']:8.1f} "
                    f"{thr:>12} {r['wall_s']:8.0f} {r['steps_per_s']:8.1f}",
                    flush=True,
                )
                if algo == "mbpo" and not args.skip_diagnose:
                    print(f"  model diagnostics: {diagnose(run_dir)}", flush=True)
        tables = env_tables(env_id, results, at_steps)
        runs = [curve_record(r["run_dir"], r["algo"]) for r in results]
        extra = {
            "seeds": args.seeds,
            "threshold": THRESHOLDS.get(env_id),
            "at_steps": at_steps,
            "steps_to_reach": "MBPO's first env step at which the mean of its last 5 "
            "evaluations reaches SAC's final return (the mean of SAC's last 5)",
            "out": str(settings.out),
        }
        write_results(f"{BENCHMARK}-{slug(env_id)}", tables, runs, extra, args.results_dir)
    if args.throughput or args.throughput_only:
        table, extra = throughput()
        write_results(
            f"{BENCHMARK}-throughput",
            {"throughput": table},
            extra=extra,
            results_dir=args.results_dir,
        )


if __name__ == "__main__":
    main()
