"""`Pendulum`: Gymnasium's Pendulum-v1, rewritten as a pure, differentiable JAX env."""

from __future__ import annotations

from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.canvas import FRAME_SIZE, Canvas
from mbrlax.envs.spec import EnvSpec


class PendulumState(NamedTuple):
    """Angle from upright (unwrapped, as in Gymnasium) and angular velocity, both ``[]``."""

    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]


Scalar = Float[Array, ""] | float
"""A physical constant: a Python float (the env's static fields) or a traced array (fitting)."""


def angle_normalize(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """Wrap angles to ``[-pi, pi)`` exactly as Gymnasium's pendulum does."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def pendulum_dynamics(
    state: PendulumState,
    u: Float[Array, ""],
    *,
    g: Scalar,
    m: Scalar,
    length: Scalar,
    damping: Scalar,
    dt: Scalar,
    max_speed: Scalar,
) -> PendulumState:
    """One step of ``dt`` of the pendulum under the (already clipped) torque ``u []``.

    ``th_ddot = 3 g / (2 l) sin th + 3 / (m l^2) (u - damping th_dot)`` (a uniform rod of
    mass ``m`` and length ``l`` about its end, viscous damping torque ``-damping th_dot``),
    integrated by semi-implicit Euler with the speed clipped to ``+-max_speed``, as in
    Gymnasium (which has no damping). The constants may be traced arrays, so that physical
    parameters can be fitted through it (:class:`mbrlax.models.physics.PendulumPhysics`).
    """
    th, thdot = state
    # A static zero adds no term, so the undamped env's jaxpr (and its gradients, bit for bit)
    # stays Gymnasium's; a traced damping always adds it.
    undamped = isinstance(damping, int | float) and damping == 0
    torque = u if undamped else u - damping * thdot
    accel = 3 * g / (2 * length) * jnp.sin(th) + 3.0 / (m * length**2) * torque
    new_thdot = jnp.clip(thdot + accel * dt, -max_speed, max_speed)
    return PendulumState(th + new_thdot * dt, new_thdot)


def pendulum_observe(state: PendulumState) -> Float[Array, " 3"]:
    """``[cos th, sin th, th_dot]``."""
    return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])


@final
class Pendulum(JaxEnv):
    """Torque-limited pendulum swing-up; same dynamics, reward and reset as ``Pendulum-v1``.

    Observation ``[cos th, sin th, th_dot]`` (3); action ``[torque]`` in ``[-2, 2]`` (clipped);
    reward ``-(wrap(th)^2 + 0.1 th_dot^2 + 0.001 u^2)`` on the state *before* the step;
    200 steps, never terminates. ``th = 0`` is upright. Dynamics: :func:`pendulum_dynamics`;
    ``damping`` (a viscous torque ``-damping th_dot``, not in Gymnasium) is 0 by default,
    which is Pendulum-v1's dynamics exactly.

    ``swing_up=True`` (``mbrlax/PendulumSwingup-v0``, :func:`pendulum_swingup`) starts every
    episode hanging down at rest, ``th ~ pi + U(-0.1, 0.1)``, ``th_dot ~ U(-0.1, 0.1)``, as in
    the PILCO paper's swing-ups, with ``episode_steps`` steps per episode.
    """

    g: float = eqx.field(static=True, default=10.0)
    m: float = eqx.field(static=True, default=1.0)
    length: float = eqx.field(static=True, default=1.0)
    dt: float = eqx.field(static=True, default=0.05)
    max_speed: float = eqx.field(static=True, default=8.0)
    max_torque: float = eqx.field(static=True, default=2.0)
    damping: float = eqx.field(static=True, default=0.0)
    swing_up: bool = eqx.field(static=True, default=False)
    episode_steps: int = eqx.field(static=True, default=200)

    def __post_init__(self):
        if self.episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1, got {self.episode_steps}.")

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/PendulumSwingup-v0" if self.swing_up else "mbrlax/Pendulum-v0",
            obs_shape=(3,),
            action_kind="continuous",
            action_shape=(1,),
            action_low=(-self.max_torque,),
            action_high=(self.max_torque,),
            max_episode_steps=self.episode_steps,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[PendulumState, Float[Array, " 3"]]:
        """``th ~ U(-pi, pi)``, ``th_dot ~ U(-1, 1)`` (swing-up: hanging down, see the class);
        returns ``(state, obs [3])``."""
        high = jnp.array([0.1, 0.1] if self.swing_up else [jnp.pi, 1.0], dtype=jnp.float32)
        th, thdot = jax.random.uniform(key, (2,), minval=-high, maxval=high)
        if self.swing_up:
            th = th + jnp.pi
        state = PendulumState(th, thdot)
        return state, self.observe(state)

    def step(self, state: PendulumState, action: Float[Array, " 1"]) -> EnvStep:
        """One step of ``dt``: semi-implicit Euler with the speed clipped, as in Gymnasium."""
        th, thdot = state
        u = jnp.clip(action[0], -self.max_torque, self.max_torque)
        cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        new_state = pendulum_dynamics(
            state,
            u,
            g=self.g,
            m=self.m,
            length=self.length,
            damping=self.damping,
            dt=self.dt,
            max_speed=self.max_speed,
        )
        return EnvStep(new_state, self.observe(new_state), -cost, jnp.array(False))

    def observe(self, state: PendulumState) -> Float[Array, " 3"]:
        """``[cos th, sin th, th_dot]``."""
        return pendulum_observe(state)

    def state_from_obs(self, obs: Float[Array, " 3"]) -> PendulumState:
        """The state of ``[cos th, sin th, th_dot]``, the angle in ``(-pi, pi]``."""
        return PendulumState(jnp.arctan2(obs[1], obs[0]), obs[2])

    def draw(self, state: PendulumState, size: int) -> UInt8[Array, "size size 3"]:
        """The rod (red) from the pivot (black), ``uint8 [size, size, 3]``; traceable, so pixel
        observations run under jit (:class:`mbrlax.envs.pixels.PixelEnv`)."""
        tip = (-jnp.sin(state.theta) * self.length, jnp.cos(state.theta) * self.length)
        canvas = Canvas(extent=1.3 * self.length, size=size)
        canvas.segment((0.0, 0.0), tip, 0.2 * self.length, (204, 77, 77))
        canvas.disc((0.0, 0.0), 0.05 * self.length, (0, 0, 0))
        return canvas.image

    def render_rgb(self, state: PendulumState) -> UInt8[np.ndarray, "200 200 3"]:
        """:meth:`draw` at 200 x 200 pixels, on the host."""
        return np.asarray(self.draw(state, FRAME_SIZE))


def pendulum_swingup(**kwargs) -> Pendulum:
    """``mbrlax/PendulumSwingup-v0``: the pendulum started hanging down at rest, 100-step
    (5 s) episodes; ``kwargs`` override any field of :class:`Pendulum`."""
    return Pendulum(**{"swing_up": True, "episode_steps": 100, **kwargs})
