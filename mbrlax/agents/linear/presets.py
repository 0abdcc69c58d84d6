"""Defaults: one set for every env (``mbrlax train linear-mpc --env ID`` starts from it)."""

from __future__ import annotations

from mbrlax.agents.linear.agent import LinearMPCConfig
from mbrlax.training.config import Preset, RunnerConfig

GENERAL = Preset(LinearMPCConfig(), RunnerConfig(episodes=5, warmup_steps=200, eval_episodes=1))
"""A random warm-up of 200 steps to fit a first model, then 4 planned episodes, refitting
after each."""


def linear_mpc_preset(env_id: str) -> Preset:
    """:data:`GENERAL`, whatever the env."""
    del env_id
    return GENERAL
