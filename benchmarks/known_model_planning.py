"""Decision-time planning with the true model: every planner in MPC on the JAX-native tasks.

For each env and planner, closed-loop episodes (``mbrlax.agents.mpc.mpc_rollout``, compiled
as a whole, once per env and planner) from the env's reset state for several seeds: the mean
and worst episode return, the success rate, milliseconds per action (best of the seeds'
compiled episode time over its steps) and compile time, as one table. Then the iLQR speed
target: one solve on the pendulum with horizon 50 and 20 iterations, against a float32
matmul timed in the same process.

    python benchmarks/known_model_planning.py
    python benchmarks/known_model_planning.py --envs mbrlax/Pendulum-v0 --planners cem ilqr

Success: swing-ups, upright for the whole last 50 steps (pendulum ``|theta| < 0.3``,
cart-pole pole within 0.3 rad of upright, acrobot tip above 1.5 link lengths, 2 is the top);
the bicycle, never more than 5 cm outside the track (``|offset| <= half_width + 0.05``) at
any step: the penalty is quadratic in the excess, so the fast planners ride the edge a few
millimetres outside it (costing ~1e-3 per step), which counts as on the track.

Results: ``benchmarks/results/known_model_planning.json``: table ``planners`` (planner x env,
each cell "mean return, successes, ms per action"), ``rows`` (one line per env and planner)
and ``ilqr_speed``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs import make_jax_env
from mbrlax.envs.base import as_step_fn
from mbrlax.planners import (
    CEM,
    DDP,
    ICEM,
    ILQR,
    MPPI,
    Collocation,
    GradientShooting,
    RandomShooting,
    ilqr_optimize,
)
from mbrlax.training.bench import Table, add_results_argument, write_results

PLANNER_NAMES = {
    "random": "random shooting (1000)",
    "cem": "CEM",
    "icem": "iCEM",
    "mppi": "MPPI",
    "gradient": "gradient shooting",
    "colloc": "collocation",
    "ilqr": "iLQR (10 iterations)",
    "ddp": "DDP (10 iterations)",
}
# Horizon per env: about as long as a swing-up or a curve takes.
HORIZONS = {
    "mbrlax/Pendulum-v0": 20,
    "mbrlax/CartpoleSwingup-v0": 25,
    "mbrlax/AcrobotSwingup-v0": 15,
    "mbrlax/BicycleTrack-v0": 20,
}
PLANNERS = {
    "random": lambda h: RandomShooting(horizon=h, population=1000),
    "cem": lambda h: CEM(horizon=h),
    "icem": lambda h: ICEM(horizon=h),
    "mppi": lambda h: MPPI(horizon=h, noise_std=1.0),
    "gradient": lambda h: GradientShooting(horizon=h),
    "colloc": lambda h: Collocation(horizon=h),
    # From a zero warm start a few plain Gauss-Newton steps stall on the swing-ups (cart-pole
    # 3.7 with 5 iterations and no damping); 10 iterations with damping 1.0 at the start work.
    "ilqr": lambda h, damping=1.0: ILQR(horizon=h, iterations=10, regularization_init=damping),
    "ddp": lambda h, damping=1.0: DDP(horizon=h, iterations=10, regularization_init=damping),
}
TAIL = 50  # steps at the end of a swing-up episode that must all be upright
EDGE = 0.05  # m outside the track's edge that still counts as on it


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def success(env, env_id: str, states) -> bool:
    """Whether one episode (``states`` with a leading time axis) did the task; see the top."""
    if env_id == "mbrlax/Pendulum-v0":
        return bool(np.all(np.abs(_wrap(np.asarray(states.theta[-TAIL:]))) < 0.3))
    if env_id == "mbrlax/CartpoleSwingup-v0":  # theta = 0 hangs down
        return bool(np.all(np.abs(_wrap(np.asarray(states.theta[-TAIL:]) - np.pi)) < 0.3))
    if env_id == "mbrlax/AcrobotSwingup-v0":
        th1, th2 = np.asarray(states.theta1[-TAIL:]), np.asarray(states.theta2[-TAIL:])
        return bool(np.all(-np.cos(th1) - np.cos(th1 + th2) > 1.5))
    if env_id == "mbrlax/BicycleTrack-v0":
        xy = jnp.stack([states.x, states.y], axis=-1)
        offsets = jax.vmap(lambda p: env.track.coordinates(p)[1])(xy)
        return bool(np.all(np.abs(np.asarray(offsets)) <= env.track.half_width + EDGE))
    raise ValueError(f"no success criterion for {env_id!r}")


def measure(
    env_id: str,
    planner_name: str,
    steps: int | None,
    seeds: list[int],
    horizon: int | None = None,
    damping: float | None = None,
) -> dict:
    env = make_jax_env(env_id)
    steps = steps or env.spec.max_episode_steps
    make = PLANNERS[planner_name]
    h = horizon or HORIZONS[env_id]
    damped = damping is not None and planner_name in ("ilqr", "ddp")
    config = make(h, damping) if damped else make(h)
    planner = config.build_for(env.spec)
    episode = jax.jit(lambda s, k: mpc_rollout(env, planner, s, k, steps))
    start, _ = env.reset(jax.random.key(seeds[0]))
    t = time.perf_counter()
    compiled = episode.lower(start, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t
    returns, successes, run_s = [], [], []
    for seed in seeds:
        start, _ = env.reset(jax.random.key(seed))
        t = time.perf_counter()
        traj = jax.block_until_ready(compiled(start, jax.random.key(seed + 1000)))
        run_s.append(time.perf_counter() - t)
        returns.append(float(traj.episode_return))
        successes.append(success(env, env_id, traj.states))
    return {
        "env": env_id,
        "planner": planner_name,
        "mean": float(np.mean(returns)),
        "worst": float(np.min(returns)),
        "success": f"{sum(successes)}/{len(seeds)}",
        "ms_per_action": 1000 * min(run_s) / steps,
        "compile_s": compile_s,
    }


def ilqr_solve_speed(repeats: int = 50) -> dict:
    """The issue's target: iLQR, pendulum, horizon 50, 20 iterations, ms per solve."""
    env = make_jax_env("mbrlax/Pendulum-v0")
    low, high = env.spec.action_bounds()
    cfg = ILQR(horizon=50, iterations=20)
    state, _ = env.reset(jax.random.key(0))
    solve = jax.jit(lambda s, a, k: ilqr_optimize(cfg, as_step_fn(env), s, a, k, low, high).actions)
    args = (state, jnp.zeros((50, 1)), jax.random.key(1))
    matmul = jax.jit(lambda x: x @ x)
    x = jnp.ones((512, 512), jnp.float32)

    def best(fn, *a) -> float:
        jax.block_until_ready(fn(*a))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            jax.block_until_ready(fn(*a))
            times.append(time.perf_counter() - t)
        return min(times)

    solve_s, matmul_s = best(solve, *args), best(matmul, x)
    return {
        "ms_per_solve": 1000 * solve_s,
        "matmul_ms": 1000 * matmul_s,
        "gflops": 2 * 512**3 / matmul_s / 1e9,
        "solve_in_matmuls": solve_s / matmul_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(HORIZONS))
    parser.add_argument("--planners", nargs="+", default=list(PLANNERS), choices=list(PLANNERS))
    parser.add_argument("--steps", type=int, default=None, help="default: the env's episode")
    parser.add_argument("--seeds", type=int, default=3, help="episodes per env and planner")
    parser.add_argument("--horizon", type=int, default=None, help="default: per env, above")
    parser.add_argument(
        "--ilqr-damping", type=float, default=None, help="iLQR/DDP regularization_init (1.0)"
    )
    parser.add_argument("--skip-ilqr-speed", action="store_true")
    add_results_argument(parser)
    args = parser.parse_args()
    for env_id in args.envs:
        if env_id not in HORIZONS:
            parser.error(f"unknown env {env_id!r}; choose from {', '.join(HORIZONS)}")
    seeds = list(range(args.seeds))
    print(f"{len(seeds)} seeds per row; success as in the script's docstring")
    print(
        f"{'env':26s} {'planner':9s} {'mean':>8s} {'worst':>8s} {'success':>7s} "
        f"{'ms/action':>9s} {'compile s':>9s}"
    )
    results = []
    for env_id in args.envs:
        for name in args.planners:
            r = measure(env_id, name, args.steps, seeds, args.horizon, args.ilqr_damping)
            results.append(r)
            print(
                f"{env_id:26s} {name:9s} {r['mean']:8.1f} {r['worst']:8.1f} {r['success']:>7s} "
                f"{r['ms_per_action']:9.2f} {r['compile_s']:9.1f}",
                flush=True,
            )
    tables = result_tables(results, args.envs, args.planners, args.horizon)
    if not args.skip_ilqr_speed:
        r = ilqr_solve_speed()
        print(
            f"\niLQR solve, pendulum, horizon 50, 20 iterations: {r['ms_per_solve']:.2f} ms "
            f"(target 1.4 ms) = {r['solve_in_matmuls']:.1f} x a 512^3 float32 matmul "
            f"({r['matmul_ms']:.2f} ms, {r['gflops']:.0f} GFLOP/s) in the same process"
        )
        tables["ilqr_speed"] = Table.of(
            [
                "iLQR solve (pendulum, horizon 50, 20 iterations)",
                "ms / solve",
                "target ms",
                "512^3 float32 matmul ms",
                "solve / matmul",
            ],
            [
                [
                    "one solve",
                    round(r["ms_per_solve"], 2),
                    1.4,
                    round(r["matmul_ms"], 2),
                    round(r["solve_in_matmuls"], 1),
                ]
            ],
        )
    extra = {
        "seeds": seeds,
        "steps": args.steps,
        "horizon": args.horizon,
        "ilqr_damping": args.ilqr_damping,
    }
    write_results("known_model_planning", tables, extra=extra, results_dir=args.results_dir)


def result_tables(
    results: list[dict], envs: list[str], planners: list[str], horizon: int | None
) -> dict[str, Table]:
    """``planners``: planner x env cells "mean, successes, ms"; ``rows``: one per measure."""
    by = {(r["env"], r["planner"]): r for r in results}
    header = [f"{env} (h {horizon or HORIZONS[env]})" for env in envs]
    pivot = [
        [
            PLANNER_NAMES[p],
            *(
                f"{by[e, p]['mean']:.1f}, {by[e, p]['success']}, {by[e, p]['ms_per_action']:.1f} ms"
                for e in envs
            ),
        ]
        for p in planners
    ]
    rows = [
        [
            r["env"],
            PLANNER_NAMES[r["planner"]],
            round(r["mean"], 1),
            round(r["worst"], 1),
            r["success"],
            round(r["ms_per_action"], 2),
            round(r["compile_s"], 1),
        ]
        for r in results
    ]
    return {
        "planners": Table.of(["planner", *header], pivot),
        "rows": Table.of(
            ["env", "planner", "mean", "worst", "success", "ms/action", "compile s"], rows
        ),
    }


if __name__ == "__main__":
    main()
