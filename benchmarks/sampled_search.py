"""Sampled tree search on Box actions: SampledMCTS against CEM in closed loop.

Known-model MPC on the JAX pendulum (``mbrlax/Pendulum-v0``, Gymnasium Pendulum-v1's
physics, 200 steps) from several reset states, the true model planned through: for each
planner, the mean, median and worst return, the mean's ratio to CEM's (CEM(horizon=20), the
``mbrlax train mpc`` preset), the start states on which it did within 10% of CEM, and
milliseconds per decision (the best of the compiled episodes' time over its steps); then the
return per start state. Target: SampledMCTS's mean return within 10% of CEM's (ratio
<= 1.1: returns are negative costs, so a lower ratio is better). Every field of SampledMCTS
is a flag (its defaults are this script's best settings). Results:
``benchmarks/results/sampled_search.json`` (tables ``planners`` and ``per_start``).

    python benchmarks/sampled_search.py
    python benchmarks/sampled_search.py --seeds 32 --num-simulations 32 --policy muzero
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.agents.mpc.presets import mpc_preset
from mbrlax.envs import make_jax_env
from mbrlax.planners import SampledMCTS
from mbrlax.training.bench import Table, add_results_argument, write_results

ENV = "mbrlax/Pendulum-v0"


def measure(env, config, seeds: list[int], steps: int) -> dict:
    """Returns per seed and ms per decision of MPC with ``config`` (compiled once)."""
    planner = config.build_for(env.spec)
    episode = jax.jit(lambda s, k: mpc_rollout(env, planner, s, k, steps).episode_return)
    start, _ = env.reset(jax.random.key(seeds[0]))
    t = time.perf_counter()
    compiled = episode.lower(start, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t
    returns, run_s = [], []
    for seed in seeds:
        start, _ = env.reset(jax.random.key(seed))
        t = time.perf_counter()
        returns.append(float(jax.block_until_ready(compiled(start, jax.random.key(seed + 1000)))))
        run_s.append(time.perf_counter() - t)
    return {
        "returns": np.array(returns),
        "ms_per_decision": 1000 * min(run_s) / steps,
        "compile_s": compile_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="reset states (episodes) per planner")
    parser.add_argument("--steps", type=int, default=200)
    defaults = SampledMCTS()
    for field in dataclasses.fields(SampledMCTS):
        default = getattr(defaults, field.name)
        kind = type(default) if default is not None else int
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=default)
    add_results_argument(parser)
    args = parser.parse_args()
    sampled = SampledMCTS(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(SampledMCTS)}
    )
    env = make_jax_env(ENV)
    seeds = list(range(args.seeds))
    print(f"{ENV}, {args.steps} steps, true model; {sampled}", flush=True)
    rows = {
        "CEM(horizon=20)": measure(env, mpc_preset(ENV)[0].planner, seeds, args.steps),
        "SampledMCTS": measure(env, sampled, seeds, args.steps),
    }
    cem = rows["CEM(horizon=20)"]["returns"]
    print()
    print(
        "| planner | mean | median | worst | mean / CEM's | starts within 10% of CEM | "
        "ms/decision | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    table = []
    for name, r in rows.items():
        x = r["returns"]
        # 10%, but at least 1: a few starts are caught at once and cost about 1.
        close = int(np.sum(x >= cem - np.maximum(0.1 * np.abs(cem), 1.0)))
        print(
            f"| {name} | {x.mean():.1f} | {np.median(x):.1f} | {x.min():.1f} | "
            f"{x.mean() / cem.mean():.3f} | {close}/{len(x)} | {r['ms_per_decision']:.2f} | "
            f"{r['compile_s']:.1f} |"
        )
        table.append(
            [
                name,
                round(float(x.mean()), 1),
                round(float(np.median(x)), 1),
                round(float(x.min()), 1),
                round(float(x.mean() / cem.mean()), 3),
                f"{close}/{len(x)}",
                round(r["ms_per_decision"], 2),
                round(r["compile_s"], 1),
            ]
        )
    sampled_returns = rows["SampledMCTS"]["returns"]
    pairs = list(zip(seeds, cem, sampled_returns, strict=True))
    print(
        "\nreturn per start (CEM / SampledMCTS): "
        + ", ".join(f"{s}: {c:.0f} / {m:.0f}" for s, c, m in pairs)
    )
    tables = {
        "planners": Table.of(
            [
                "planner",
                "mean",
                "median",
                "worst",
                "mean / CEM's",
                "starts within 10% of CEM",
                "ms/decision",
                "compile s",
            ],
            table,
        ),
        "per_start": Table.of(
            ["start (seed)", "CEM", "SampledMCTS"],
            [[s, round(float(c), 1), round(float(m), 1)] for s, c, m in pairs],
        ),
    }
    extra = {"reset_states": args.seeds, "steps": args.steps, "sampled_mcts": str(sampled)}
    write_results("sampled_search", tables, extra=extra, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
