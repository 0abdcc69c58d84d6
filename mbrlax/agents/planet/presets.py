"""Defaults: one set for every env (``mbrlax train planet --env ID`` starts from it)."""

from __future__ import annotations

from mbrlax.agents.planet.agent import PlaNetConfig
from mbrlax.training.config import Preset, RunnerConfig

GENERAL = Preset(PlaNetConfig(), RunnerConfig(episodes=20, warmup_steps=1000, eval_episodes=1))
"""Random episodes for the first 1,000 env steps (PlaNet: 5 seed episodes), then planned
episodes, the model trained after each."""


def planet_preset(env_id: str) -> Preset:
    """:data:`GENERAL`, whatever the env."""
    del env_id
    return GENERAL
