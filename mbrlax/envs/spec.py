"""`EnvSpec`: what every part of mbrlax needs to know about an environment."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment's spaces (hashable, so usable as jit-static).

    Attributes:
        env_id: the id the env was made from (e.g. ``"Pendulum-v1"``), or the class name.
        obs_shape: shape of one observation, e.g. ``(3,)``; ``(H, W, 3)`` for RGB frames
            (pixel observations, ``uint8``).
        action_kind: ``"continuous"`` (Box actions) or ``"discrete"`` (Discrete actions).
        action_shape: ``(A,)`` for continuous actions, ``()`` for discrete ones.
        action_low: lower bound per action dimension (continuous only, finite).
        action_high: upper bound per action dimension (continuous only, finite).
        num_actions: number of discrete actions (discrete only).
        max_episode_steps: time limit of an episode, if the env has one.
        num_states: number of discrete observations, for envs whose observation is one int
            in ``[0, num_states)`` (Gymnasium ``Discrete`` spaces, the grid mazes; then
            ``obs_shape`` is ``()``); ``None`` for vector observations.
    """

    env_id: str
    obs_shape: tuple[int, ...]
    action_kind: Literal["continuous", "discrete"]
    action_shape: tuple[int, ...]
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    num_actions: int | None = None
    max_episode_steps: int | None = None
    num_states: int | None = None

    @property
    def obs_dim(self) -> int:
        """Number of entries in one flattened observation."""
        return int(np.prod(self.obs_shape))

    @property
    def action_dim(self) -> int:
        """Number of action entries (1 for a discrete action)."""
        return int(np.prod(self.action_shape)) if self.action_shape else 1

    @property
    def is_continuous(self) -> bool:
        return self.action_kind == "continuous"

    @property
    def is_tabular(self) -> bool:
        """Whether observations are discrete (one int each), as tabular agents need."""
        return self.num_states is not None

    @property
    def is_image(self) -> bool:
        """Whether observations are RGB frames ``[H, W, 3]`` (``uint8``)."""
        return len(self.obs_shape) == 3

    @property
    def obs_dtype(self) -> type[np.generic]:
        """``int32`` for discrete observations, ``uint8`` for frames, ``float32`` for vectors."""
        if self.is_tabular:
            return np.int32
        return np.uint8 if self.is_image else np.float32

    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low [A], high [A])`` as float32 arrays; raises for discrete action spaces."""
        if not self.is_continuous:
            raise ValueError(f"{self.env_id} has discrete actions: there are no action bounds.")
        return (np.asarray(self.action_low, np.float32), np.asarray(self.action_high, np.float32))
