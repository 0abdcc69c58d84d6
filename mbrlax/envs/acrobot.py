"""`Acrobot`: Gymnasium's Acrobot-v1 physics as a continuous-torque swing-up task in JAX.

Two links hang from a fixed pivot; only the joint between them is actuated. The physical model
and parameters are Gymnasium's (``gymnasium.envs.classic_control.acrobot``, ``"book"``
dynamics of Sutton & Barto): link lengths 1, masses 1, centres of mass at 0.5, moments of
inertia 1, ``g = 9.8``; one RK4 step of ``dt = 0.2`` per env step with the torque held, then the
angles are wrapped into ``[-pi, pi)`` and the speeds clipped to ``4 pi`` and ``9 pi``.

``th1`` is the first link's angle from hanging down, ``th2`` the second link's angle relative to
the first; the tip is at ``(sin th1 + sin(th1 + th2), -cos th1 - cos(th1 + th2))``.
"""

from __future__ import annotations

from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv, rk4_step
from mbrlax.envs.canvas import Canvas
from mbrlax.envs.spec import EnvSpec

MAX_TORQUE = 2.0
"""Default torque bound (N m). Gymnasium's discrete torques are ``{-1, 0, +1}``, but with a
bound of 1 a true-model CEM planner (horizon 25 = 5 s, 400 x 5) only reaches tip height 1 at
step 194 of 200 (return -50); with 2 it swings up by step ~76 and then balances near upright
(return 169), so 2 leaves room for learned models within the 200 steps."""

TORQUE_COST = 0.01
"""Weight of the ``u^2`` penalty in the reward."""


class AcrobotState(NamedTuple):
    """``th1, th2`` (wrapped to ``[-pi, pi)``) and their velocities; all ``[]``."""

    theta1: Float[Array, ""]
    theta2: Float[Array, ""]
    dtheta1: Float[Array, ""]
    dtheta2: Float[Array, ""]


def wrap_angle(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """Wrap to ``[-pi, pi)``; gradient 1 almost everywhere."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def tip_height(obs: Float[Array, " 6"]) -> Float[Array, ""]:
    """``-cos th1 - cos(th1 + th2)`` from ``[cos th1, sin th1, cos th2, sin th2, ...]``; in
    ``[-2, 2]`` (-2 hanging down, 2 upright)."""
    c1, s1, c2, s2 = obs[0], obs[1], obs[2], obs[3]
    return -c1 - (c1 * c2 - s1 * s2)


def swingup_reward(
    next_obs: Float[Array, " 6"], action: Float[Array, " 1"], max_torque: float = MAX_TORQUE
) -> Float[Array, ""]:
    """Tip height of the state after the step minus ``0.01 u^2`` of the clipped torque."""
    u = jnp.clip(action[0], -max_torque, max_torque)
    return tip_height(next_obs) - TORQUE_COST * u**2


def reward_fn(
    obs: Float[Array, " 6"], action: Float[Array, " 1"], next_obs: Float[Array, " 6"]
) -> Float[Array, ""]:
    """mbrlax/AcrobotSwingup-v0's exact reward (default ``max_torque``) from
    ``(obs, action, next_obs)``; ``[]``. The action is clipped as the env clips it."""
    del obs  # the reward is on the state after the step
    return swingup_reward(next_obs, action, MAX_TORQUE)


@final
class Acrobot(JaxEnv):
    """Swing the acrobot's tip up from hanging down with a bounded torque on the elbow.

    Observation ``[cos th1, sin th1, cos th2, sin th2, dth1, dth2]`` (6, as Gymnasium); action
    ``[torque]`` in ``[-max_torque, max_torque]`` (clipped); reward :func:`swingup_reward` on
    the state *after* the step, in ``[-2 - 0.01 max_torque^2, 2]``; 200 steps; never
    terminates. Reset: all four state variables ``~ U(-0.1, 0.1)`` (as Gymnasium).
    """

    link_length_1: float = eqx.field(static=True, default=1.0)
    link_mass_1: float = eqx.field(static=True, default=1.0)
    link_mass_2: float = eqx.field(static=True, default=1.0)
    link_com_1: float = eqx.field(static=True, default=0.5)
    link_com_2: float = eqx.field(static=True, default=0.5)
    link_moi: float = eqx.field(static=True, default=1.0)
    g: float = eqx.field(static=True, default=9.8)
    dt: float = eqx.field(static=True, default=0.2)
    max_vel_1: float = eqx.field(static=True, default=4 * np.pi)
    max_vel_2: float = eqx.field(static=True, default=9 * np.pi)
    max_torque: float = eqx.field(static=True, default=MAX_TORQUE)
    max_episode_steps: int = eqx.field(static=True, default=200)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/AcrobotSwingup-v0",
            obs_shape=(6,),
            action_kind="continuous",
            action_shape=(1,),
            action_low=(-self.max_torque,),
            action_high=(self.max_torque,),
            max_episode_steps=self.max_episode_steps,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[AcrobotState, Float[Array, " 6"]]:
        """Near hanging down at rest; returns ``(state, obs [6])``."""
        state = AcrobotState(*jax.random.uniform(key, (4,), minval=-0.1, maxval=0.1))
        return state, self.observe(state)

    def derivative(self, state: AcrobotState, torque: Float[Array, ""]) -> AcrobotState:
        """Time derivative of the state: Gymnasium's ``_dsdt`` with ``book_or_nips="book"``."""
        m1, m2 = self.link_mass_1, self.link_mass_2
        l1, lc1, lc2 = self.link_length_1, self.link_com_1, self.link_com_2
        i1 = i2 = self.link_moi
        g = self.g
        th1, th2, dth1, dth2 = state
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(th2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(th2)) + i2
        phi2 = m2 * lc2 * g * jnp.cos(th1 + th2 - jnp.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dth2**2 * jnp.sin(th2)
            - 2 * m2 * l1 * lc2 * dth2 * dth1 * jnp.sin(th2)
            + (m1 * lc1 + m2 * l1) * g * jnp.cos(th1 - jnp.pi / 2.0)
            + phi2
        )
        ddth2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dth1**2 * jnp.sin(th2) - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddth1 = -(d2 * ddth2 + phi1) / d1
        return AcrobotState(dth1, dth2, ddth1, ddth2)

    def integrate(self, state: AcrobotState, torque: Float[Array, ""]) -> AcrobotState:
        """One RK4 step of ``dt`` with the torque held; no wrapping or clipping."""
        return rk4_step(lambda s: self.derivative(s, torque), state, self.dt)

    def step(self, state: AcrobotState, action: Float[Array, " 1"]) -> EnvStep:
        """Clip the torque, integrate ``dt``, wrap the angles and clip the speeds (as
        Gymnasium), then score the new state."""
        a = jnp.clip(action, -self.max_torque, self.max_torque)
        th1, th2, dth1, dth2 = self.integrate(state, a[0])
        new_state = AcrobotState(
            wrap_angle(th1),
            wrap_angle(th2),
            jnp.clip(dth1, -self.max_vel_1, self.max_vel_1),
            jnp.clip(dth2, -self.max_vel_2, self.max_vel_2),
        )
        obs = self.observe(new_state)
        reward = swingup_reward(obs, a, self.max_torque)
        return EnvStep(new_state, obs, reward, jnp.array(False))

    def observe(self, state: AcrobotState) -> Float[Array, " 6"]:
        """``[cos th1, sin th1, cos th2, sin th2, dth1, dth2]``."""
        th1, th2, dth1, dth2 = state
        return jnp.stack([jnp.cos(th1), jnp.sin(th1), jnp.cos(th2), jnp.sin(th2), dth1, dth2])

    def state_from_obs(self, obs: Float[Array, " 6"]) -> AcrobotState:
        """The state of ``[cos th1, sin th1, cos th2, sin th2, dth1, dth2]``."""
        return AcrobotState(
            jnp.arctan2(obs[1], obs[0]), jnp.arctan2(obs[3], obs[2]), obs[4], obs[5]
        )

    def render_rgb(self, state: AcrobotState) -> UInt8[np.ndarray, "200 200 3"]:
        """Links (teal), joints (yellow), the height-1 line of Gymnasium's goal (grey);
        host side, ``uint8 [200, 200, 3]``."""
        th1, th2 = float(state.theta1), float(state.theta2)
        l1 = self.link_length_1
        l2 = 1.0  # Gymnasium's LINK_LENGTH_2; the dynamics above only use l1 and lc2
        elbow = (l1 * np.sin(th1), -l1 * np.cos(th1))
        tip = (elbow[0] + l2 * np.sin(th1 + th2), elbow[1] - l2 * np.cos(th1 + th2))
        extent = l1 + l2 + 0.2
        canvas = Canvas(extent=extent)
        canvas.segment((-extent, 1.0), (extent, 1.0), 0.01 * extent, (120, 120, 120))
        canvas.segment((0.0, 0.0), elbow, 0.2, (0, 204, 204))
        canvas.segment(elbow, tip, 0.2, (0, 204, 204))
        canvas.disc((0.0, 0.0), 0.1, (204, 204, 0))
        canvas.disc(elbow, 0.1, (204, 204, 0))
        return np.asarray(canvas.image)
