"""Decision-time planning with the true model: every planner in MPC on the JAX-native tasks.

For each env and planner, one closed-loop episode (``mbrlax.agents.mpc.mpc_rollout``, compiled
as a whole) from the env's reset state with a fixed seed: the episode return, milliseconds per
action (the compiled episode's time over its steps) and compile time, as one table.

    python benchmarks/known_model_planning.py
    python benchmarks/known_model_planning.py --envs mbrlax/Pendulum-v0 --planners cem ilqr
"""

from __future__ import annotations

import argparse
import time

import jax

from mbrlax.agents.mpc import mpc_rollout
from mbrlax.envs import make_jax_env
from mbrlax.planners import CEM, ICEM, ILQR, MPPI, GradientShooting, RandomShooting

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
    # From a zero warm start a few plain Gauss-Newton steps stall on the swing-ups (cart-pole
    # 3.7 with 5 iterations and no damping); 10 iterations with damping 1.0 at the start work.
    "ilqr": lambda h: ILQR(horizon=h, iterations=10, regularization_init=1.0),
}


def measure(env_id: str, planner_name: str, steps: int | None, seed: int) -> dict:
    env = make_jax_env(env_id)
    steps = steps or env.spec.max_episode_steps
    planner = PLANNERS[planner_name](HORIZONS[env_id]).build(*env.spec.action_bounds())
    start, _ = env.reset(jax.random.key(seed))
    key = jax.random.key(seed + 1)
    episode = jax.jit(lambda s, k: mpc_rollout(env, planner, s, k, steps))
    t = time.perf_counter()
    compiled = episode.lower(start, key).compile()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    traj = jax.block_until_ready(compiled(start, key))
    run_s = time.perf_counter() - t
    return {
        "env": env_id,
        "planner": planner_name,
        "return": float(traj.episode_return),
        "ms_per_action": 1000 * run_s / steps,
        "compile_s": compile_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(HORIZONS))
    parser.add_argument("--planners", nargs="+", default=list(PLANNERS), choices=list(PLANNERS))
    parser.add_argument("--steps", type=int, default=None, help="default: the env's episode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'env':28s} {'planner':9s} {'return':>9s} {'ms/action':>10s} {'compile s':>9s}")
    for env_id in args.envs:
        if env_id not in HORIZONS:
            parser.error(f"unknown env {env_id!r}; choose from {', '.join(HORIZONS)}")
        for name in args.planners:
            r = measure(env_id, name, args.steps, args.seed)
            print(
                f"{env_id:28s} {name:9s} {r['return']:9.1f} {r['ms_per_action']:10.2f} "
                f"{r['compile_s']:9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
