"""Defaults: one set for every env (``mbrlax train dreamer --env ID`` starts from it)."""

from __future__ import annotations

from mbrlax.agents.dreamer.agent import DreamerConfig
from mbrlax.training.config import Preset, RunnerConfig

GENERAL = Preset(
    DreamerConfig(),
    RunnerConfig(episodes=50, warmup_steps=1000, refit_every=100, eval_episodes=1),
)
"""Random actions for the first 1,000 env steps, then 100 training steps (each on 16 x 16
replayed steps) after every 100 env steps: a train ratio of 256 replayed steps per env step
(DreamerV3's DMC setting: 512)."""


def dreamer_preset(env_id: str) -> Preset:
    """:data:`GENERAL`, whatever the env."""
    del env_id
    return GENERAL
