"""Envs written for the tests as a user would write their own: plain Gymnasium envs that
mbrlax knows nothing about (no preset, no registered task), made by ``module:Id`` like
``mbrlax train pets --env user_envs:PointReach-v0``."""

from __future__ import annotations

import gymnasium
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces

from mbrlax.envs import register_task


class PointReach(gymnasium.Env):
    """A point in the plane steered by its velocity toward a goal it does not observe.

    Observation ``[x, y]``, action ``[vx, vy]`` in ``[-1, 1]^2``, ``position += 0.1 * action``;
    reward ``-|position - goal|`` after the step (a dense distance reward: its peak is a cone,
    which a learned reward must resolve); 50 steps. Doing nothing earns about -47, going
    straight to the goal about -5.
    """

    goal = np.array([0.6, -0.7], np.float32)

    def __init__(self):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.1, 0.1, 2).astype(np.float32)
        return self.position.copy(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        self.position = (self.position + 0.1 * action).astype(np.float32)
        reward = -float(np.linalg.norm(self.position - self.goal))
        return self.position.copy(), reward, False, False, {}


def point_reach_reward(obs, action, next_obs):
    """PointReach's reward as a function of a transition, for ``register_task``."""
    return -jnp.linalg.norm(next_obs - jnp.asarray(PointReach.goal))


if "PointReach-v0" not in gymnasium.registry:
    gymnasium.register("PointReach-v0", entry_point=PointReach, max_episode_steps=50)
    # The same env with its reward given to mbrlax (the exact-reward twin benchmarks compare
    # a learned reward against).
    gymnasium.register("PointReachExact-v0", entry_point=PointReach, max_episode_steps=50)
    register_task("PointReachExact-v0", point_reach_reward)


class ChainWalk(gymnasium.Env):
    """A corridor of 7 cells walked left or right from the middle to the end the observation
    names (drawn at every reset); reaching it ends the episode.

    Observation ``[one-hot cell (7), goal side (+1 right, -1 left)]`` (Box), Discrete(2)
    actions (0 left, 1 right), reward -1 per step, 20 steps at most. The shortest walk earns
    -3; always walking one way about -11.5, a random walk about -15.
    """

    n = 7

    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, (self.n + 1,), np.float32)
        self.action_space = spaces.Discrete(2)

    def _obs(self):
        return np.append(np.eye(self.n, dtype=np.float32)[self.cell], self.side)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cell = self.n // 2
        self.side = np.float32(self.np_random.choice([-1.0, 1.0]))
        return self._obs(), {}

    def step(self, action):
        self.cell = int(np.clip(self.cell + (1 if int(action) == 1 else -1), 0, self.n - 1))
        goal = self.n - 1 if self.side > 0 else 0
        return self._obs(), -1.0, self.cell == goal, False, {}


if "ChainWalk-v0" not in gymnasium.registry:
    gymnasium.register("ChainWalk-v0", entry_point=ChainWalk, max_episode_steps=20)
