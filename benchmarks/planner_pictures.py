"""Pictures of planners at work: MPPI's fan of samples and predicted vs realised trajectories.

Runs MPC with MPPI and the exact model on the bicycle track and the pendulum swing-up (each one
compiled episode, ``mbrlax.agents.mpc.mpc_rollout``) and writes, into ``--out``:

- ``mppi_fan_bicycle.png``: the samples of MPPI's decision at step ``--fan-step`` of the
  bicycle episode (warm-started, exactly as in the episode), coloured by weight, on the track;
- ``mppi_fan_pendulum.png``: the same for the pendulum's first decision, against time;
- ``predicted_vs_realised_bicycle.png`` and ``predicted_vs_realised_pendulum.png``: each
  episode against the plans chosen at a few replanning times, rolled out through the model;
- ``predicted_vs_realised_pendulum_wrong_model.png``: the pendulum planned with a wrong model
  (mass and gravity off), its predictions rolled out through that model.

    python benchmarks/planner_pictures.py                 # into runs/pictures/
    python benchmarks/planner_pictures.py --out docs/img --seed 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mbrlax.agents.mpc import MPCTrajectory, mpc_rollout
from mbrlax.analysis.planner_plots import (
    mppi_decision_at,
    plot_mppi_fan,
    plot_predicted_vs_realised,
)
from mbrlax.envs.base import JaxEnv, as_step_fn
from mbrlax.envs.bicycle import Bicycle
from mbrlax.envs.pendulum import Pendulum, PendulumState
from mbrlax.planners import MPPI, GaussianState, StepFn
from mbrlax.planners.mppi import mppi_samples

# Tuned by hand on these envs: lambda of the order of the spread of the sampled returns.
BICYCLE_MPPI = MPPI(horizon=20, population=300, noise_std=0.5, temperature=0.05)
PENDULUM_MPPI = MPPI(horizon=20, population=300, noise_std=1.0, temperature=1.0)
WRONG_PENDULUM = Pendulum(m=1.8, g=8.0)  # a badly identified pendulum


def run_episode(
    env: JaxEnv,
    config: MPPI,
    start: object,
    key: jax.Array,
    num_steps: int,
    model_step: StepFn | None = None,
) -> MPCTrajectory:
    """One compiled MPC episode with MPPI; prints its return."""
    planner = config.build_for(env.spec)
    t = time.perf_counter()
    traj = jax.jit(lambda k: mpc_rollout(env, planner, start, k, num_steps, model_step))(key)
    print(
        f"  {env.spec.env_id}: return {float(traj.episode_return):.1f} over {num_steps} steps "
        f"({time.perf_counter() - t:.1f} s with compilation)"
    )
    return traj


def decision_at(
    env: JaxEnv, config: MPPI, traj: MPCTrajectory, key: jax.Array, t: int
) -> tuple[object, GaussianState, jax.Array]:
    """``mppi_decision_at``, checked: the redone call chooses the action the episode executed."""
    state, pstate, step_key = mppi_decision_at(env, config, traj, key, t)
    low, high = env.spec.action_bounds()
    its = jax.jit(lambda ps, s, k: mppi_samples(config, low, high, ps, as_step_fn(env), s, k))(
        pstate, state, step_key
    )
    np.testing.assert_allclose(its.plan[-1, 0], traj.actions[t], rtol=1e-4, atol=1e-5)
    return state, pstate, step_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pictures"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bicycle-steps", type=int, default=150)
    parser.add_argument("--pendulum-steps", type=int, default=100)
    parser.add_argument(
        "--fan-step", type=int, default=12, help="the bicycle decision the fan picture shows"
    )
    args = parser.parse_args()
    if not 0 <= args.fan_step < args.bicycle_steps:
        parser.error(f"--fan-step must be in [0, {args.bicycle_steps}), got {args.fan_step}")
    reset_key, episode_key, fan_key = jax.random.split(jax.random.key(args.seed), 3)
    written = []

    print("bicycle track")
    bicycle = Bicycle()
    start, _ = bicycle.reset(reset_key)
    traj = run_episode(bicycle, BICYCLE_MPPI, start, episode_key, args.bicycle_steps)
    state, pstate, key = decision_at(bicycle, BICYCLE_MPPI, traj, episode_key, args.fan_step)
    written.append(
        plot_mppi_fan(
            bicycle,
            state,
            BICYCLE_MPPI,
            key,
            args.out / "mppi_fan_bicycle.png",
            pstate=pstate,
            title=f"MPPI's samples at step {args.fan_step} of an MPC episode on the track "
            f"({BICYCLE_MPPI.population} sequences of {BICYCLE_MPPI.horizon} steps, "
            f"λ = {BICYCLE_MPPI.temperature:g})",
        )
    )
    written.append(
        plot_predicted_vs_realised(bicycle, traj, args.out / "predicted_vs_realised_bicycle.png")
    )

    print("pendulum swing-up")
    pendulum = Pendulum()
    hanging = PendulumState(jnp.array(jnp.pi), jnp.array(0.0))
    written.append(
        plot_mppi_fan(pendulum, hanging, PENDULUM_MPPI, fan_key, args.out / "mppi_fan_pendulum.png")
    )
    traj = run_episode(pendulum, PENDULUM_MPPI, hanging, episode_key, args.pendulum_steps)
    written.append(
        plot_predicted_vs_realised(pendulum, traj, args.out / "predicted_vs_realised_pendulum.png")
    )
    wrong = as_step_fn(WRONG_PENDULUM)
    traj = run_episode(pendulum, PENDULUM_MPPI, hanging, episode_key, args.pendulum_steps, wrong)
    written.append(
        plot_predicted_vs_realised(
            pendulum,
            traj,
            args.out / "predicted_vs_realised_pendulum_wrong_model.png",
            model_step=wrong,
            key=fan_key,
            title=f"mbrlax/Pendulum-v0 planned with a wrong model (m = {WRONG_PENDULUM.m:g}, "
            f"g = {WRONG_PENDULUM.g:g}): the realised episode\nvs the plan chosen at step t "
            f"rolled out {PENDULUM_MPPI.horizon} steps through that model",
        )
    )
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
