"""``mbrlax draw``: one MPC episode of a JAX env through its exact model, as pictures."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import tyro

from mbrlax.cli.common import CLIError, peek_env


def draw_command(args: Sequence[str]) -> None:
    import jax

    from mbrlax.agents.mpc import MPCConfig, mpc_rollout
    from mbrlax.agents.mpc.presets import mpc_preset
    from mbrlax.analysis.planner_plots import (
        mppi_decision_at,
        plot_mppi_fan,
        plot_predicted_vs_realised,
    )
    from mbrlax.envs import list_jax_envs, make_jax_env
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

    env_id = peek_env(list(args), DrawArgs.env)
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
