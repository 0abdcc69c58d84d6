"""`PointGoal`: steer a point to a goal, drawn at random each episode
(``mbrlax/PointGoal-v0``) or fixed (``mbrlax/PointReach-v0``, small enough to learn from 16 x 16
pixels in a test: ``mbrlax/PointReach-v0?pixels=16``)."""

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


class PointGoalState(NamedTuple):
    """The point's and the goal's positions, ``[2]`` each."""

    position: Float[Array, " 2"]
    goal: Float[Array, " 2"]


@final
class PointGoal(JaxEnv):
    """A point in ``[-1, 1]^2`` moved by its velocity, ``position += speed * action`` (clipped
    to the square), towards a goal drawn uniformly in ``[-0.8, 0.8]^2`` at reset (or the fixed
    ``goal``), the point from ``[-start, start]^2``. Observation ``[position, goal]``
    (``[4]``); reward ``-|position - goal|`` after the step; ``episode_steps`` steps, never
    terminates.

    With the defaults (30 steps, speed 0.1), random steering earns about -25 and going straight
    to the goal about -5. Drawn (:meth:`draw`): the goal as a green disc, the point as a blue
    one; from pixels the task needs both positions read from the frame.
    """

    speed: float = eqx.field(static=True, default=0.1)
    episode_steps: int = eqx.field(static=True, default=30)
    start: float = eqx.field(static=True, default=0.8)
    goal: tuple[float, float] | None = eqx.field(static=True, default=None)
    name: str = eqx.field(static=True, default="mbrlax/PointGoal-v0")

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id=self.name,
            obs_shape=(4,),
            action_kind="continuous",
            action_shape=(2,),
            action_low=(-1.0, -1.0),
            action_high=(1.0, 1.0),
            max_episode_steps=self.episode_steps,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[PointGoalState, Float[Array, " 4"]]:
        k_p, k_g = jax.random.split(key)
        if self.goal is None:
            goal = jax.random.uniform(k_g, (2,), minval=-0.8, maxval=0.8)
        else:
            goal = jnp.asarray(self.goal, jnp.float32)
        state = PointGoalState(
            jax.random.uniform(k_p, (2,), minval=-self.start, maxval=self.start), goal
        )
        return state, self.observe(state)

    def step(self, state: PointGoalState, action: Float[Array, " 2"]) -> EnvStep:
        position = jnp.clip(state.position + self.speed * jnp.clip(action, -1.0, 1.0), -1.0, 1.0)
        new = state._replace(position=position)
        reward = -jnp.linalg.norm(position - state.goal)
        return EnvStep(new, self.observe(new), reward, jnp.array(False))

    def observe(self, state: PointGoalState) -> Float[Array, " 4"]:
        return jnp.concatenate([state.position, state.goal])

    def state_from_obs(self, obs: Float[Array, " 4"]) -> PointGoalState:
        return PointGoalState(obs[:2], obs[2:])

    def draw(self, state: PointGoalState, size: int) -> UInt8[Array, "size size 3"]:
        """Goal (green) and point (blue) on ``[-1.2, 1.2]^2``, ``uint8 [size, size, 3]``;
        traceable (pixel observations run under jit)."""
        canvas = Canvas(extent=1.2, size=size)
        canvas.disc(state.goal, 0.15, (60, 170, 60))
        canvas.disc(state.position, 0.15, (51, 102, 204))
        return canvas.image

    def render_rgb(self, state: PointGoalState) -> UInt8[np.ndarray, "200 200 3"]:
        """:meth:`draw` at 200 x 200 pixels, on the host."""
        return np.asarray(self.draw(state, FRAME_SIZE))


def point_reach(**kwargs) -> PointGoal:
    """``mbrlax/PointReach-v0``: the goal fixed at ``(0.6, -0.7)``, the point starting near the
    origin (``[-0.1, 0.1]^2``), 50 steps: the JAX-native twin of the user env of the tests
    (``tests/user_envs.py``), drawable. Doing nothing earns about -47, random steering about
    -55, going straight to the goal about -5."""
    defaults = dict(goal=(0.6, -0.7), start=0.1, episode_steps=50, name="mbrlax/PointReach-v0")
    return PointGoal(**{**defaults, **kwargs})
