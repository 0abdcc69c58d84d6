"""`CartpoleSwingup`: the continuous cart-pole swing-up of PETS (Chua et al., 2018) in JAX.

Physics (PILCO parameters): a cart of mass ``M`` on a rail with viscous friction ``b``, pushed
by a force ``F = force_scale * a``, carries a uniform rod of mass ``m`` and length ``l`` on a
frictionless pivot. With ``th = 0`` the pole hangs *down*, the pole's centre of mass is at
``(x - l/2 sin th, -l/2 cos th)`` and its inertia about the pivot is ``m l^2 / 3``. The
Lagrangian

    L = 1/2 (M + m) x'^2 - (m l / 2) cos(th) x' th' + 1/2 (m l^2 / 3) th'^2 + m g (l / 2) cos(th)

gives the equations of motion (generalised forces ``F - b x'`` on ``x``, none on ``th``)

    (M + m) x'' - (m l / 2) cos(th) th'' = F - b x' - (m l / 2) sin(th) th'^2
    -(m l / 2) cos(th) x'' + (m l^2 / 3) th'' = -m g (l / 2) sin(th)

which :func:`accelerations` solves as a 2x2 linear system (its determinant is always positive).
"""

from __future__ import annotations

from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv, rk4_step
from mbrlax.envs.canvas import FRAME_SIZE, Canvas
from mbrlax.envs.spec import EnvSpec

POLE_LENGTH = 0.6
"""Default pole length ``l`` (m); the reward's target is the pole tip at ``(0, l)``."""


class CartpoleState(NamedTuple):
    """Cart position, pole angle (0 = hanging down), and their velocities; all ``[]``."""

    x: Float[Array, ""]
    theta: Float[Array, ""]
    x_dot: Float[Array, ""]
    theta_dot: Float[Array, ""]


def swingup_reward(
    x: Float[Array, ""],
    cos_th: Float[Array, ""],
    sin_th: Float[Array, ""],
    action: Float[Array, " 1"],
    length: float = POLE_LENGTH,
) -> Float[Array, ""]:
    """PETS reward ``exp(-|ee - (0, l)|^2 / l^2) - 0.01 |a|^2`` of the pole tip ``ee``.

    ``ee = (x - l sin th, -l cos th)``. Inputs are scalars but ``action [1]``; returns ``[]``.
    """
    ee = jnp.stack([x - length * sin_th, -length * cos_th])
    dist2 = jnp.sum((ee - jnp.array([0.0, length])) ** 2)
    return jnp.exp(-dist2 / length**2) - 0.01 * jnp.sum(action**2)


@final
class CartpoleSwingup(JaxEnv):
    """Swing the pole up from hanging down and balance it with the tip at ``(0, l)``.

    Observation ``[x, x_dot, cos th, sin th, th_dot]`` (5); action ``[a]`` in ``[-1, 1]``
    (clipped; force ``force_scale * a``); reward :func:`swingup_reward` of the clipped action
    and the state *after* the step; ``dt`` per step integrated by ``substeps`` RK4 steps;
    200 steps; the rail is unbounded, so it never terminates. Reset: ``(x, th, x', th')``
    each ``~ N(0, 0.1^2)``.
    """

    cart_mass: float = eqx.field(static=True, default=0.5)
    pole_mass: float = eqx.field(static=True, default=0.5)
    length: float = eqx.field(static=True, default=POLE_LENGTH)
    friction: float = eqx.field(static=True, default=0.1)
    force_scale: float = eqx.field(static=True, default=10.0)
    g: float = eqx.field(static=True, default=9.81)
    dt: float = eqx.field(static=True, default=0.05)
    substeps: int = eqx.field(static=True, default=4)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/CartpoleSwingup-v0",
            obs_shape=(5,),
            action_kind="continuous",
            action_shape=(1,),
            action_low=(-1.0,),
            action_high=(1.0,),
            max_episode_steps=200,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[CartpoleState, Float[Array, " 5"]]:
        """Near hanging down at rest; returns ``(state, obs [5])``."""
        state = CartpoleState(*(0.1 * jax.random.normal(key, (4,))))
        return state, self.observe(state)

    def accelerations(
        self, state: CartpoleState, force: Float[Array, ""]
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """``(x'', th'')`` from the equations of motion in the module docstring."""
        big_m, m, ell = self.cart_mass, self.pole_mass, self.length
        c, s = jnp.cos(state.theta), jnp.sin(state.theta)
        a11, a12, a22 = big_m + m, -0.5 * m * ell * c, m * ell**2 / 3.0
        b1 = force - self.friction * state.x_dot - 0.5 * m * ell * s * state.theta_dot**2
        b2 = -0.5 * m * self.g * ell * s
        det = a11 * a22 - a12**2
        return (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det

    def energy(self, state: CartpoleState) -> Float[Array, ""]:
        """Total mechanical energy (J); conserved when ``friction = 0`` and no force acts."""
        big_m, m, ell = self.cart_mass, self.pole_mass, self.length
        c = jnp.cos(state.theta)
        kinetic = (
            0.5 * (big_m + m) * state.x_dot**2
            - 0.5 * m * ell * c * state.x_dot * state.theta_dot
            + 0.5 * (m * ell**2 / 3.0) * state.theta_dot**2
        )
        return kinetic - 0.5 * m * self.g * ell * c

    def _derivative(self, state: CartpoleState, force: Float[Array, ""]) -> CartpoleState:
        x_acc, th_acc = self.accelerations(state, force)
        return CartpoleState(state.x_dot, state.theta_dot, x_acc, th_acc)

    def _rk4(self, state: CartpoleState, force: Float[Array, ""], h: float) -> CartpoleState:
        return rk4_step(lambda s: self._derivative(s, force), state, h)

    def step(self, state: CartpoleState, action: Float[Array, " 1"]) -> EnvStep:
        """Hold the force for ``dt`` (zero-order hold), integrate, score the new state."""
        a = jnp.clip(action, -1.0, 1.0)
        force = self.force_scale * a[0]
        h = self.dt / self.substeps

        def substep(s: CartpoleState, _: None) -> tuple[CartpoleState, None]:
            return self._rk4(s, force, h), None

        new_state, _ = jax.lax.scan(substep, state, None, length=self.substeps)
        obs = self.observe(new_state)
        reward = swingup_reward(obs[0], obs[2], obs[3], a, self.length)
        return EnvStep(new_state, obs, reward, jnp.array(False))

    def observe(self, state: CartpoleState) -> Float[Array, " 5"]:
        """``[x, x_dot, cos th, sin th, th_dot]``: the angle as cos/sin never wraps."""
        return jnp.stack(
            [state.x, state.x_dot, jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]
        )

    def state_from_obs(self, obs: Float[Array, " 5"]) -> CartpoleState:
        """The state of ``[x, x_dot, cos th, sin th, th_dot]``, the angle in ``(-pi, pi]``."""
        return CartpoleState(obs[0], jnp.arctan2(obs[3], obs[2]), obs[1], obs[4])

    def draw(self, state: CartpoleState, size: int) -> UInt8[Array, "size size 3"]:
        """Rail, cart (blue), pole (red), target (green), ``uint8 [size, size, 3]``;
        traceable (pixel observations run under jit)."""
        extent = 2.5 * self.length
        # The rail is unbounded: keep the cart in view by pinning it to the frame's edge.
        x = jnp.clip(state.x, -extent + 0.2, extent - 0.2)
        th = state.theta
        tip = (x - self.length * jnp.sin(th), -self.length * jnp.cos(th))
        canvas = Canvas(extent=extent, size=size)
        canvas.segment((-extent, 0.0), (extent, 0.0), 0.01 * extent, (120, 120, 120))
        canvas.disc((0.0, self.length), 0.03 * extent, (60, 170, 60))
        canvas.box((x, 0.0), (0.15, 0.07), (60, 90, 200))
        canvas.segment((x, 0.0), tip, 0.05, (204, 77, 77))
        return canvas.image

    def render_rgb(self, state: CartpoleState) -> UInt8[np.ndarray, "200 200 3"]:
        """:meth:`draw` at 200 x 200 pixels, on the host."""
        return np.asarray(self.draw(state, FRAME_SIZE))
