"""Defaults: one set for every env (``mbrlax train tdmpc2 --env ID`` starts from it)."""

from __future__ import annotations

from mbrlax.agents.tdmpc2.agent import TDMPC2Config
from mbrlax.training.config import Preset, RunnerConfig

GENERAL = Preset(
    TDMPC2Config(),
    RunnerConfig(
        episodes=100_000,  # the run is ended by total_steps
        total_steps=100_000,
        warmup_steps=2500,
        refit_every=1,
        eval_episodes=1,
        eval_every=5,
        checkpoint_every=10_000,
    ),
)
"""TD-MPC2's schedule: random actions for the first 2,500 env steps (its seed steps, ``max(1000,
5 T)`` for DMC's 500-step episodes at action repeat 2), one pre-training step per seed step at
the first update, then one gradient step after every env step, for 100,000 env steps."""


def tdmpc2_preset(env_id: str) -> Preset:
    """:data:`GENERAL`, whatever the env."""
    del env_id
    return GENERAL
