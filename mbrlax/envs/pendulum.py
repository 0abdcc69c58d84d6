"""`Pendulum`: Gymnasium's Pendulum-v1, rewritten as a pure, differentiable JAX env."""

from __future__ import annotations

from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.jax_gym import Canvas
from mbrlax.envs.spec import EnvSpec


class PendulumState(NamedTuple):
    """Angle from upright (unwrapped, as in Gymnasium) and angular velocity, both ``[]``."""

    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]


def angle_normalize(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """Wrap angles to ``[-pi, pi)`` exactly as Gymnasium's pendulum does."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


@final
class Pendulum(JaxEnv):
    """Torque-limited pendulum swing-up; same dynamics, reward and reset as ``Pendulum-v1``.

    Observation ``[cos th, sin th, th_dot]`` (3); action ``[torque]`` in ``[-2, 2]`` (clipped);
    reward ``-(wrap(th)^2 + 0.1 th_dot^2 + 0.001 u^2)`` on the state *before* the step;
    200 steps, never terminates. ``th = 0`` is upright.
    """

    g: float = eqx.field(static=True, default=10.0)
    m: float = eqx.field(static=True, default=1.0)
    length: float = eqx.field(static=True, default=1.0)
    dt: float = eqx.field(static=True, default=0.05)
    max_speed: float = eqx.field(static=True, default=8.0)
    max_torque: float = eqx.field(static=True, default=2.0)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/Pendulum-v0",
            obs_shape=(3,),
            action_kind="continuous",
            action_shape=(1,),
            action_low=(-self.max_torque,),
            action_high=(self.max_torque,),
            max_episode_steps=200,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[PendulumState, Float[Array, " 3"]]:
        """``th ~ U(-pi, pi)``, ``th_dot ~ U(-1, 1)``; returns ``(state, obs [3])``."""
        high = jnp.array([jnp.pi, 1.0], dtype=jnp.float32)
        th, thdot = jax.random.uniform(key, (2,), minval=-high, maxval=high)
        state = PendulumState(th, thdot)
        return state, self.observe(state)

    def step(self, state: PendulumState, action: Float[Array, " 1"]) -> EnvStep:
        """One step of ``dt``: semi-implicit Euler with the speed clipped, as in Gymnasium."""
        th, thdot = state
        u = jnp.clip(action[0], -self.max_torque, self.max_torque)
        cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        accel = 3 * self.g / (2 * self.length) * jnp.sin(th) + 3.0 / (self.m * self.length**2) * u
        new_thdot = jnp.clip(thdot + accel * self.dt, -self.max_speed, self.max_speed)
        new_state = PendulumState(th + new_thdot * self.dt, new_thdot)
        return EnvStep(new_state, self.observe(new_state), -cost, jnp.array(False))

    def observe(self, state: PendulumState) -> Float[Array, " 3"]:
        """``[cos th, sin th, th_dot]``."""
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])

    def state_from_obs(self, obs: Float[Array, " 3"]) -> PendulumState:
        """The state of ``[cos th, sin th, th_dot]``, the angle in ``(-pi, pi]``."""
        return PendulumState(jnp.arctan2(obs[1], obs[0]), obs[2])

    def render_rgb(self, state: PendulumState) -> UInt8[np.ndarray, "200 200 3"]:
        """Draw the rod (red) from the pivot (black); host side, ``uint8 [200, 200, 3]``."""
        th = float(state.theta)
        tip = (-np.sin(th) * self.length, np.cos(th) * self.length)
        canvas = Canvas(extent=1.3 * self.length)
        canvas.segment((0.0, 0.0), tip, 0.2 * self.length, (204, 77, 77))
        canvas.disc((0.0, 0.0), 0.05 * self.length, (0, 0, 0))
        return canvas.image
