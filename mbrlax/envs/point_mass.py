"""`PointMass`: a force-driven point mass (double integrator), the linear-quadratic test task."""

from __future__ import annotations

import math
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.canvas import FRAME_SIZE, Canvas
from mbrlax.envs.spec import EnvSpec


class PointMassState(NamedTuple):
    """Position and velocity, both ``[dim]``.

    Its leaves in order, ``[position, velocity]`` (``[2 dim]``), are the state vector ``x`` of
    :meth:`PointMass.linear_quadratic` (``jax.flatten_util.ravel_pytree`` gives it).
    """

    position: Float[Array, " dim"]
    velocity: Float[Array, " dim"]


@final
class PointMass(JaxEnv):
    """A unit point mass pushed by a bounded force in ``dim`` dimensions; a linear-quadratic task.

    Continuous time: ``p' = v``, ``v' = u - damping v``. The force is held constant over each
    step of ``dt`` (zero-order hold) and the dynamics are discretised exactly, so the env *is*
    the linear system ``x' = A x + B u`` with ``x = [position (dim), velocity (dim)]``.
    Observation ``x`` (``2 dim``); action ``u`` in ``[-max_force, max_force]^dim`` (clipped);
    reward ``-(x^T Q x + u^T R u)`` on the state *before* the step with diagonal
    ``Q = diag(position_weight I, velocity_weight I)`` and ``R = action_weight I``;
    reset: position ``~ U(-1, 1)^dim``, velocity 0; 100 steps, never terminates.
    :meth:`linear_quadratic` gives ``(A, B, Q, R)``, e.g. for :func:`mbrlax.planners.lqr`.
    """

    dim: int = eqx.field(static=True, default=2)
    dt: float = eqx.field(static=True, default=0.1)
    damping: float = eqx.field(static=True, default=0.0)
    max_force: float = eqx.field(static=True, default=1.0)
    position_weight: float = eqx.field(static=True, default=1.0)
    velocity_weight: float = eqx.field(static=True, default=0.1)
    action_weight: float = eqx.field(static=True, default=0.01)

    def __check_init__(self) -> None:
        if not (isinstance(self.dim, int) and self.dim >= 1):
            raise ValueError(f"PointMass.dim must be an int >= 1, got {self.dim!r}.")
        for name in ("dt", "max_force", "action_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PointMass.{name} must be > 0, got {getattr(self, name)!r}.")
        for name in ("damping", "position_weight", "velocity_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PointMass.{name} must be >= 0, got {getattr(self, name)!r}.")

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/PointMass-v0",
            obs_shape=(2 * self.dim,),
            action_kind="continuous",
            action_shape=(self.dim,),
            action_low=(-self.max_force,) * self.dim,
            action_high=(self.max_force,) * self.dim,
            max_episode_steps=100,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[PointMassState, Float[Array, " obs_dim"]]:
        """Position ``~ U(-1, 1)^dim``, velocity 0; returns ``(state, obs [2 dim])``."""
        position = jax.random.uniform(key, (self.dim,), minval=-1.0, maxval=1.0)
        state = PointMassState(position, jnp.zeros_like(position))
        return state, self.observe(state)

    def step(self, state: PointMassState, action: Float[Array, " dim"]) -> EnvStep:
        """One exact step of ``dt``: ``x' = A x + B clip(u)`` (see :meth:`linear_quadratic`)."""
        (a_pv, a_vv), (b_p, b_v) = self._scalar_coefficients()
        p, v = state
        u = jnp.clip(action, -self.max_force, self.max_force)
        cost = (
            self.position_weight * jnp.sum(p**2)
            + self.velocity_weight * jnp.sum(v**2)
            + self.action_weight * jnp.sum(u**2)
        )
        new_state = PointMassState(p + a_pv * v + b_p * u, a_vv * v + b_v * u)
        return EnvStep(new_state, self.observe(new_state), -cost, jnp.array(False))

    def observe(self, state: PointMassState) -> Float[Array, " obs_dim"]:
        """``[position, velocity]`` (``[2 dim]``), the state vector ``x``."""
        return jnp.concatenate([state.position, state.velocity])

    def state_from_obs(self, obs: Float[Array, " obs_dim"]) -> PointMassState:
        """The state of ``[position, velocity]``."""
        return PointMassState(obs[: self.dim], obs[self.dim :])

    def linear_quadratic(
        self,
    ) -> tuple[
        Float[np.ndarray, "S S"],
        Float[np.ndarray, "S A"],
        Float[np.ndarray, "S S"],
        Float[np.ndarray, "A A"],
    ]:
        """The task as ``(A [S, S], B [S, A], Q [S, S], R [A, A])``, float64 numpy, ``S = 2 A``.

        ``step`` is ``x' = A x + B u`` for ``|u| <= max_force`` and its reward is
        ``-(x^T Q x + u^T R u)``: maximising the return is the LQR problem on these matrices.
        """
        (a_pv, a_vv), (b_p, b_v) = self._scalar_coefficients()
        eye = np.eye(self.dim)
        a = np.kron(np.array([[1.0, a_pv], [0.0, a_vv]]), eye)
        b = np.kron(np.array([[b_p], [b_v]]), eye)
        q = np.diag([self.position_weight] * self.dim + [self.velocity_weight] * self.dim)
        r = self.action_weight * eye
        return a, b, q.astype(np.float64), r

    def _scalar_coefficients(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((A_pv, A_vv), (B_p, B_v))`` of one axis: ``p' = p + A_pv v + B_p u``, ``v' = ...``.

        Zero-order hold of ``p' = v, v' = u - c v``: with ``c = 0`` the textbook
        ``(dt, 1), (dt^2 / 2, dt)``; otherwise the exponentials of ``exp(-c dt)``.
        """
        dt, c = self.dt, self.damping
        if c == 0:
            return (dt, 1.0), (dt**2 / 2, dt)
        decay = math.exp(-c * dt)
        gain = -math.expm1(-c * dt) / c  # (1 - exp(-c dt)) / c, accurate for small c dt
        return (gain, decay), ((dt - gain) / c, gain)

    def draw(self, state: PointMassState, size: int) -> UInt8[Array, "size size 3"]:
        """The point (blue) and the origin (black cross) on axes 0, 1, ``uint8 [size, size,
        3]``; traceable (pixel observations run under jit)."""
        p = state.position
        xy = (p[0], p[1] if self.dim > 1 else 0.0)
        canvas = Canvas(extent=1.5, size=size)
        canvas.segment((-0.08, 0.0), (0.08, 0.0), 0.02, (0, 0, 0))
        canvas.segment((0.0, -0.08), (0.0, 0.08), 0.02, (0, 0, 0))
        canvas.disc(xy, 0.12, (51, 102, 204))
        return canvas.image

    def render_rgb(self, state: PointMassState) -> UInt8[np.ndarray, "200 200 3"]:
        """:meth:`draw` at 200 x 200 pixels, on the host."""
        return np.asarray(self.draw(state, FRAME_SIZE))
