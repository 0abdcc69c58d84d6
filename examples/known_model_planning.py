"""Plan through a model you write yourself in JAX: CEM, MPPI and iLQR swing a pendulum up.

A known model is any pure function ``step(state, action, key) -> (next_state, reward,
terminated)`` on one example. Every planner takes it, the sampling ones (CEM, MPPI) and those
that differentiate through it (iLQR). Here the model is also the world the controller acts in,
so the loop is model-predictive control with a perfect model, compiled as one ``lax.scan``.

    python examples/known_model_planning.py            # 200 steps (10 s of pendulum)
    python examples/known_model_planning.py --quick    # 60 steps: a smoke run
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from mbrlax.planners import CEM, ILQR, MPPI

DT, G, MASS, LENGTH, MAX_TORQUE = 0.05, 10.0, 1.0, 1.0, 2.0


def step(state, action, key):
    """Gymnasium's Pendulum-v1 physics: state ``[theta, theta_dot]`` (0 is upright), action
    ``[torque]``; the reward is minus the cost of the angle, the speed and the torque."""
    del key  # deterministic
    theta, theta_dot = state
    torque = jnp.clip(action[0], -MAX_TORQUE, MAX_TORQUE)
    angle = (theta + jnp.pi) % (2 * jnp.pi) - jnp.pi
    reward = -(angle**2 + 0.1 * theta_dot**2 + 0.001 * torque**2)
    theta_dot = (
        theta_dot + (3 * G / (2 * LENGTH) * jnp.sin(theta) + 3 / (MASS * LENGTH**2) * torque) * DT
    )
    theta_dot = jnp.clip(theta_dot, -8.0, 8.0)
    return jnp.array([theta + theta_dot * DT, theta_dot]), reward, jnp.array(False)


def control(planner, start, key, num_steps: int):
    """Closed-loop MPC with a built planner: plan, act with the first action, replan from
    where the model went. Returns the return and the angle at every step."""

    def body(carry, k):
        state, pstate = carry
        action, pstate, _ = planner.plan(pstate, step, state, k)
        next_state, reward, _ = step(state, action, k)
        return (next_state, pstate), (reward, next_state[0])

    _, (rewards, angles) = jax.lax.scan(
        body, (start, planner.init()), jax.random.split(key, num_steps)
    )
    return rewards.sum(), angles


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 steps (a smoke run)")
    args = parser.parse_args(argv)
    num_steps = 60 if args.quick else 200
    start = jnp.array([jnp.pi, 0.0])  # hanging down, at rest
    planners = {
        "CEM": CEM(horizon=20, population=200, num_elites=20),
        "MPPI": MPPI(horizon=20),
        "iLQR": ILQR(horizon=20, iterations=10),
    }
    print(f"{'planner':8} {'return':>9} {'final angle from upright':>25} {'s':>6}")
    for name, config in planners.items():
        t0 = time.perf_counter()
        planner = config.build(action_low=[-MAX_TORQUE], action_high=[MAX_TORQUE])
        run = jax.jit(lambda key, p=planner: control(p, start, key, num_steps))
        total, angles = jax.block_until_ready(run(jax.random.key(0)))
        final = float(jnp.abs((angles[-1] + jnp.pi) % (2 * jnp.pi) - jnp.pi))
        print(f"{name:8} {float(total):9.1f} {final:25.2f} {time.perf_counter() - t0:6.1f}")
        assert jnp.isfinite(total), name
    print(f"ok: {len(planners)} planners ran {num_steps} steps of MPC through the model")


if __name__ == "__main__":
    main()
