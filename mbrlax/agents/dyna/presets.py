"""Defaults that work, per env. ``mbrlax train dyna-q --env ID`` starts from these.

The mazes use the settings of Sutton & Barto's figures (``benchmarks/dyna_maze.py``): the
Dyna maze those of Figure 8.2 with ``n = 5``, the blocking and shortcut mazes the Dyna-Q of
Figures 8.4 / 8.5 (add ``--agent.kappa 1e-3`` for Dyna-Q+), with enough episodes to pass the
wall change. The Gymnasium toy-text envs use the settings of ``benchmarks/dyna_gym.py``;
slippery FrozenLake gets the count-based model.
"""

from __future__ import annotations

import dataclasses

from mbrlax.agents.dyna.tabular import DynaQ
from mbrlax.training.config import Preset, RunnerConfig

DYNA_RUNNER = RunnerConfig(
    episodes=50,
    warmup_steps=0,
    refit_every=1,
    eval_episodes=0,
    buffer_capacity=1000,
    checkpoint_every=5000,
)
"""Dyna learns after every step, from the newest transition (the buffer keeps only a recent
window); the mazes are judged by their training episodes, so there is no evaluation."""

_GREEDY_EVAL = RunnerConfig(
    episodes=300,
    warmup_steps=0,
    refit_every=1,
    eval_episodes=10,
    eval_every=50,
    buffer_capacity=1000,
    checkpoint_every=5000,
)
"""The Gymnasium envs: greedy evaluation episodes now and then."""

DYNA_PRESETS: dict[str, Preset] = {
    "mbrlax/DynaMaze-v0": Preset(DynaQ(planning_steps=5), DYNA_RUNNER),
    "mbrlax/BlockingMaze-v0": Preset(
        DynaQ(alpha=1.0, planning_steps=10),
        dataclasses.replace(DYNA_RUNNER, episodes=150),
    ),
    "mbrlax/ShortcutMaze-v0": Preset(
        DynaQ(alpha=1.0, planning_steps=10),
        dataclasses.replace(DYNA_RUNNER, episodes=400),
    ),
    "FrozenLake-v1": Preset(
        DynaQ(alpha=0.1, gamma=0.99, planning_steps=10, model="stochastic"),
        dataclasses.replace(_GREEDY_EVAL, episodes=600, eval_every=100, eval_episodes=50),
    ),
    "CliffWalking-v1": Preset(
        DynaQ(alpha=0.5, gamma=1.0, planning_steps=10),
        dataclasses.replace(_GREEDY_EVAL, episodes=100, eval_every=10, eval_episodes=1),
    ),
    "Taxi-v4": Preset(DynaQ(alpha=0.5, gamma=0.95, planning_steps=10), _GREEDY_EVAL),
}


def dyna_preset(env_id: str) -> Preset:
    """``(agent, runner)`` for tabular Dyna on ``env_id`` (Example 8.1's Dyna-Q otherwise)."""
    return DYNA_PRESETS.get(env_id, Preset(DynaQ(), DYNA_RUNNER))
