"""MBPO against SAC on the same seeds and machine: return against env steps, wall time, speed.

Each (env, algorithm, seed) is an ordinary run directory under ``--out`` (the presets of
``mbrlax train sac`` / ``mbrlax train mbpo``, lengths from ``--steps``), so ``mbrlax plot``,
``mbrlax compare`` and ``mbrlax diagnose`` work on them afterwards. Printed per run: the last
evaluation and the mean of the last five, the best, the env steps at which the evaluation
first reached the env's threshold, wall seconds and env steps per second. Then, per env, the
env steps MBPO needed to reach the return SAC ended with (Hopper's headline number), and the
PNG of both learning curves. With ``--throughput`` it also times the hot loops against the
float32 matmul peak measured in the same process: SAC gradient steps per second (batch 256,
2 x 256 networks) and branched-rollout transitions per second (the paper's 7 x 4 x 200
ensemble, 100,000 particles).

Targets: InvertedPendulum-v5, MBPO >= 950 by 10,000 env steps; Hopper-v5, MBPO reaches SAC's
return at 100,000 steps within 25,000; HalfCheetah-v5, the return of both at 50,000.

    python benchmarks/mbpo_vs_sac.py --envs InvertedPendulum-v5 --throughput
    python benchmarks/mbpo_vs_sac.py --envs Hopper-v5 --steps sac=100000 mbpo=50000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
from planner_speed import matmul_peak_gflops

from mbrlax.agents.mbpo import MBPO
from mbrlax.agents.sac import SAC, SACConfig
from mbrlax.data.buffer import ReplayBuffer, Transition
from mbrlax.envs import make_env
from mbrlax.experiment import EXPERIMENTS, diagnose, run
from mbrlax.plotting import plot_learning_curves

THRESHOLDS = {"InvertedPendulum-v5": 950.0, "Hopper-v5": 2000.0, "HalfCheetah-v5": 3000.0}
DEFAULT_STEPS = {
    "InvertedPendulum-v5": {"sac": 10_000, "mbpo": 10_000},
    "Hopper-v5": {"sac": 100_000, "mbpo": 25_000},
    "HalfCheetah-v5": {"sac": 50_000, "mbpo": 50_000},
    "Walker2d-v5": {"sac": 50_000, "mbpo": 50_000},
}


def one_run(
    env_id: str, algo: str, seed: int, steps: int, out: Path, checkpoint_every: int | None = None
) -> dict:
    """Train one run (resuming it if its directory holds an unfinished one)."""
    exp = EXPERIMENTS[algo].preset(env_id, seed=seed)
    runner = dataclasses.replace(exp.runner, total_steps=steps, episodes=10**6, progress=False)
    if checkpoint_every is not None:  # long runs: lose less when the machine goes away
        runner = dataclasses.replace(runner, checkpoint_every=checkpoint_every)
    run_dir = out / f"{algo}-{env_id}-seed{seed}"
    exp = dataclasses.replace(exp, runner=runner, run_dir=run_dir)
    start = time.perf_counter()
    resume = (run_dir / "config.json").exists()
    rows = run(exp, resume=resume).rows
    wall = time.perf_counter() - start
    evals = [
        (r["env_steps"], r["eval_return"])
        for r in rows
        if np.isfinite(r.get("eval_return", np.nan))
    ]
    steps_arr = np.array([s for s, _ in evals])
    returns = np.array([v for _, v in evals])
    threshold = THRESHOLDS.get(env_id, np.inf)
    hit = steps_arr[returns >= threshold]
    return {
        "env": env_id,
        "algo": algo,
        "seed": seed,
        "env_steps": int(rows[-1]["env_steps"]),
        "last_eval": float(returns[-1]),
        "last5_eval": float(returns[-5:].mean()),
        "best_eval": float(returns.max()),
        "steps_to_threshold": int(hit[0]) if hit.size else None,
        "wall_s": float(rows[-1]["wall_seconds"]),
        "steps_per_s": rows[-1]["env_steps"] / max(float(rows[-1]["wall_seconds"]), 1e-9),
        "session_s": wall,
        "curve": [(int(s), float(v)) for s, v in evals],
        "run_dir": str(run_dir),
    }


def steps_to_reach(curve: list[tuple[int, float]], target: float, window: int = 5) -> int | None:
    """First env step at which the mean of the last ``window`` evaluations reaches ``target``."""
    values = np.array([v for _, v in curve])
    for i in range(len(curve)):
        if values[max(0, i - window + 1) : i + 1].mean() >= target:
            return curve[i][0]
    return None


def mlp_macs(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def throughput() -> None:
    """SAC gradient steps and branched-rollout transitions per second, against the peak."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["InvertedPendulum-v5"])
    parser.add_argument("--algos", nargs="+", default=["sac", "mbpo"], choices=["sac", "mbpo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", nargs="*", default=[], help="ALGO=STEPS overrides")
    parser.add_argument("--out", type=Path, default=Path("runs/mbpo_vs_sac"))
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--checkpoint-every", type=int, default=None)
    args = parser.parse_args()
    overrides = {k: int(v) for k, v in (s.split("=") for s in args.steps)}
    results = []
    header = (f"{'env':20} {'algo':5} {'seed':>4} {'steps':>7} {'last eval':>9} {'last 5':>8} "
              f"{'best':>8} {'steps to thr':>12} {'wall s':>8} {'steps/s':>8}")  # fmt: skip
    print(header, flush=True)
    for env_id in args.envs:
        for algo in args.algos:
            steps = overrides.get(algo, DEFAULT_STEPS.get(env_id, {}).get(algo, 50_000))
            for seed in args.seeds:
                r = one_run(env_id, algo, seed, steps, args.out, args.checkpoint_every)
                results.append(r)
                thr = "-" if r["steps_to_threshold"] is None else str(r["steps_to_threshold"])
                print(f"{env_id:20} {algo:5} {seed:4d} {r['env_steps']:7d} {r['last_eval']:9.1f} "
                      f"{r['last5_eval']:8.1f} {r['best_eval']:8.1f} {thr:>12} "
                      f"{r['wall_s']:8.0f} {r['steps_per_s']:8.1f}", flush=True)  # fmt: skip
                if algo == "mbpo":
                    png = diagnose(r["run_dir"])
                    print(f"  model diagnostics: {png}", flush=True)
        dirs = [r["run_dir"] for r in results if r["env"] == env_id]
        png = plot_learning_curves([Path(d) for d in dirs], args.out / f"{env_id}.png")
        print(f"  learning curves: {png}")
        for seed in args.seeds:
            by = {r["algo"]: r for r in results if r["env"] == env_id and r["seed"] == seed}
            if {"sac", "mbpo"} <= set(by):
                target = by["sac"]["last5_eval"]
                reached = steps_to_reach(by["mbpo"]["curve"], target)
                print(f"  seed {seed}: SAC's final return (last 5 evals) {target:.1f} at "
                      f"{by['sac']['env_steps']} steps; MBPO reached it at "
                      f"{reached if reached is not None else 'never'} "
                      f"(of {by['mbpo']['env_steps']})")  # fmt: skip
    # Runs of other envs (earlier invocations) stay in the summary; these replace their own.
    path = args.out / "summary.json"
    done = {(r["env"], r["algo"], r["seed"]) for r in results}
    kept = json.loads(path.read_text()) if path.exists() else []
    kept = [r for r in kept if (r["env"], r["algo"], r["seed"]) not in done]
    path.write_text(json.dumps(kept + results, indent=1))
    if args.throughput:
        throughput()


if __name__ == "__main__":
    main()
