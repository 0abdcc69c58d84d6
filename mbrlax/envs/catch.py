"""`Catch`: bsuite's catch (Osband et al., 2020): move a paddle under a falling ball."""

from __future__ import annotations

from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, UInt8

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.spec import EnvSpec


class CatchState(NamedTuple):
    """Ball row and column and paddle column, int32 ``[]`` each (row 0 is the top)."""

    ball_row: Int[Array, ""]
    ball_col: Int[Array, ""]
    paddle_col: Int[Array, ""]


@final
class Catch(JaxEnv):
    """A ``rows x cols`` board; the ball starts in a random column of the top row and falls
    one row per step; the paddle starts in the middle of the bottom row and moves left (action
    0), stays (1) or right (2). When the ball reaches the bottom row the episode ends with +1
    if the paddle is under it, else -1; every other step earns 0 (``rows - 1`` steps in all).

    The observation is the board flattened to ``[rows * cols]``: 1 where the ball and the
    paddle are, 0 elsewhere, as in bsuite.
    """

    rows: int = eqx.field(static=True, default=10)
    cols: int = eqx.field(static=True, default=5)

    def __check_init__(self) -> None:
        if self.rows < 2 or self.cols < 1:
            raise ValueError(f"Catch needs rows >= 2 and cols >= 1, got {self.rows}, {self.cols}.")

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id="mbrlax/Catch-v0",
            obs_shape=(self.rows * self.cols,),
            action_kind="discrete",
            action_shape=(),
            num_actions=3,
            max_episode_steps=self.rows - 1,
        )

    def reset(self, key: PRNGKeyArray) -> tuple[CatchState, Float[Array, " n"]]:
        """The ball in a uniformly random column of the top row, the paddle in the middle."""
        col = jax.random.randint(key, (), 0, self.cols, dtype=jnp.int32)
        state = CatchState(jnp.int32(0), col, jnp.int32(self.cols // 2))
        return state, self.observe(state)

    def step(self, state: CatchState, action: Int[Array, ""]) -> EnvStep:
        """Move the paddle by ``action - 1`` (clipped to the board), then the ball down a row."""
        action = jnp.reshape(jnp.asarray(action, jnp.int32), ())
        paddle = jnp.clip(state.paddle_col + action - 1, 0, self.cols - 1)
        new = CatchState(state.ball_row + 1, state.ball_col, paddle)
        landed = new.ball_row >= self.rows - 1
        caught = jnp.where(new.ball_col == paddle, 1.0, -1.0)
        reward = jnp.where(landed, caught, 0.0).astype(jnp.float32)
        return EnvStep(new, self.observe(new), reward, landed)

    def observe(self, state: CatchState) -> Float[Array, " n"]:
        """The board ``[rows * cols]`` (row-major), 1 at the ball and at the paddle."""
        board = jnp.zeros((self.rows, self.cols), jnp.float32)
        board = board.at[state.ball_row, state.ball_col].set(1.0)
        board = board.at[self.rows - 1, state.paddle_col].set(1.0)
        return board.reshape(-1)

    def state_from_obs(self, obs: Float[Array, " n"]) -> CatchState:
        """The state of a board whose ball is still above the bottom row (any decision state)."""
        board = jnp.reshape(obs, (self.rows, self.cols))
        ball = jnp.argmax(board[:-1].reshape(-1)).astype(jnp.int32)
        paddle = jnp.argmax(board[-1]).astype(jnp.int32)
        return CatchState(ball // self.cols, ball % self.cols, paddle)

    def render_rgb(self, state: CatchState) -> UInt8[np.ndarray, "rows cols 3"]:
        """The board scaled up 20 times: ball red, paddle black, on white."""
        image = np.full((self.rows, self.cols, 3), 255, np.uint8)
        image[int(state.ball_row), int(state.ball_col)] = (204, 51, 51)
        image[self.rows - 1, int(state.paddle_col)] = (0, 0, 0)
        return np.kron(image, np.ones((20, 20, 1), np.uint8))
