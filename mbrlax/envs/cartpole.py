"""`CartPole`: Gymnasium's CartPole-v1 (two discrete pushes, keep the pole up), in pure JAX."""

from __future__ import annotations

import math
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.canvas import Canvas
from mbrlax.envs.spec import EnvSpec


class CartPoleState(NamedTuple):
    """Cart position and velocity, pole angle (0 upright) and angular velocity, all ``[]``."""

    x: Float[Array, ""]
    x_dot: Float[Array, ""]
    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]


@final
class CartPole(JaxEnv):
    """The classic cart-pole balance task with the dynamics, reward, termination and reset of
    Gymnasium's ``CartPole-v1`` (Barto, Sutton and Anderson, 1983).

    Observation ``[x, x_dot, theta, theta_dot]`` (4); action ``0`` (push left) or ``1`` (push
    right) with ``force_mag`` newtons; explicit Euler steps of ``tau`` seconds; reward 1 on
    every step, the terminating one included; terminated when ``|x| > 2.4`` or
    ``|theta| > 12 degrees``; 500 steps. Gymnasium computes in float64, this env in float32:
    trajectories agree to about 1e-5 over 100 steps.
    """

    gravity: float = eqx.field(static=True, default=9.8)
    masscart: float = eqx.field(static=True, default=1.0)
    masspole: float = eqx.field(static=True, default=0.1)
    length: float = eqx.field(static=True, default=0.5)  # half the pole's length
    force_mag: float = eqx.field(static=True, default=10.0)
    tau: float = eqx.field(static=True, default=0.02)
    x_threshold: float = eqx.field(static=True, default=2.4)
    theta_threshold: float = eqx.field(static=True, default=12 * 2 * math.pi / 360)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/CartPole-v0",
            obs_shape=(4,),
            action_kind="discrete",
            action_shape=(),
            num_actions=2,
            max_episode_steps=500,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[CartPoleState, Float[Array, " 4"]]:
        """Every state variable ``~ U(-0.05, 0.05)``; returns ``(state, obs [4])``."""
        state = CartPoleState(*jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05))
        return state, self.observe(state)

    def step(self, state: CartPoleState, action: Int[Array, ""]) -> EnvStep:
        """One Euler step of ``tau`` under a push to the right (action 1) or the left."""
        x, x_dot, theta, theta_dot = state
        action = jnp.reshape(jnp.asarray(action), ())  # a discrete action, or a [1] array of it
        force = jnp.where(action == 1, self.force_mag, -self.force_mag)
        total_mass = self.masscart + self.masspole
        polemass_length = self.masspole * self.length
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / total_mass)
        )
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        new = CartPoleState(
            x + self.tau * x_dot,
            x_dot + self.tau * x_acc,
            theta + self.tau * theta_dot,
            theta_dot + self.tau * theta_acc,
        )
        terminated = (jnp.abs(new.x) > self.x_threshold) | (
            jnp.abs(new.theta) > self.theta_threshold
        )
        return EnvStep(new, self.observe(new), jnp.float32(1.0), terminated)

    def observe(self, state: CartPoleState) -> Float[Array, " 4"]:
        """``[x, x_dot, theta, theta_dot]``."""
        return jnp.stack(state).astype(jnp.float32)

    def state_from_obs(self, obs: Float[Array, " 4"]) -> CartPoleState:
        """The observation is the state."""
        return CartPoleState(*jnp.asarray(obs, jnp.float32))

    def render_rgb(self, state: CartPoleState) -> UInt8[np.ndarray, "200 200 3"]:
        """Draw the cart (black) on its rail and the pole (brown); ``uint8 [200, 200, 3]``."""
        x, th = float(state.x), float(state.theta)
        canvas = Canvas(extent=self.x_threshold + 0.3)
        canvas.segment((-self.x_threshold, 0.0), (self.x_threshold, 0.0), 0.02, (120, 120, 120))
        canvas.segment((x - 0.25, 0.0), (x + 0.25, 0.0), 0.15, (0, 0, 0))
        tip = (x + 2 * self.length * np.sin(th), 2 * self.length * np.cos(th))
        canvas.segment((x, 0.0), tip, 0.05, (202, 152, 101))
        return np.asarray(canvas.image)
